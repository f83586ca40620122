// Walks every hosted page in every state a user meets, in one Chromium, in
// each language asked for (the browser context's locale, so its
// Accept-Language) and in light and dark (emulateMedia), and on each:
//
//   - runs axe-core with the WCAG 2.0/2.1 A and AA rules;
//   - after a refused form, checks the error is in an alert (role=alert,
//     aria-live), the fields in error are aria-invalid and described by
//     their message (aria-describedby), and focus is on the first of them;
//   - screenshots the main pages as a desktop (1280x800) and a phone
//     (390x844) window shows them (the window, not the whole page, so
//     every image has one size), dynamic parts (times) masked.
//
// Run by module/browser_pages_test.go (TestBrowserPages), which compares
// the screenshots; by hand:
//
//	node module/testdata/browser/pages.mjs <base-url> <code-url> <out-dir> <langs>
//
// The pool behind <base-url> has open sign-up with a required name, mail
// and `mfa required`, and per language L the users mfa-L@example.com
// (confirmed, no factor), both-L@example.com (an app and email codes) and
// temp-L@example.com (a temporary password);
// <code-url>?email=<address> answers the code last mailed there. It prints
// one JSON line: {checked, violations, problems, shots, ...}; it exits 1
// only when it could not reach a page state. PAGES_TIMING=1 prints each
// state's time on stderr; PAGES_AXE_TAGS=<tag,...> runs other axe-core
// tags (best-practice passes too today).

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { check, launch, pageErrors, run, step, watch } from './harness.mjs';

const [argBase, codeURL, outDir, langsArg] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !codeURL || !outDir || !langsArg) {
  console.error('usage: pages.mjs <base-url> <code-url> <out-dir> <langs>');
  process.exit(2);
}
const langs = langsArg.split(',');

const password = 'a quiet walk in the hills';
const tempPassword = 'Given-Provisional-Pass-99';
const newPassword = 'another quiet walk by the sea';
const privatePath = '/private/page';
const tags = (process.env.PAGES_AXE_TAGS || 'wcag2a,wcag2aa,wcag21a,wcag21aa').split(',');
const schemes = ['light', 'dark'];
// axe-core goes into every page before its own scripts, once per load
// (the DevTools protocol's, which the pages' Content-Security-Policy does
// not govern), and runs there twice, light and dark.
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const viewports = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

// The pages screenshotted (of all those checked), with what to mask (no
// set-up page: its QR code and key, masked, would be most of it).
const shotPages = {
  signin: [],
  'signup-errors': [],
  confirm: [],
  forgot: [],
  'reset-error': [],
  'new-password': [],
  error: [],
  'mfa-totp': [],
  'recovery-codes': ['#recovery-codes'],
  account: ['#signed-in-recently', '#confirmed'],
  reauth: [],
};

const summary = { ok: false, base, checked: 0, violations: [], problems: [], shots: [] };

// totp is the code an authenticator app shows now for a base32 secret.
function totp(secretBase32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.toUpperCase().replace(/[\s=]+/g, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1e6).padStart(6, '0');
}

// mailedCode is the newest code mailed to email, waiting (up to 10 s) for
// one other than the last this script used.
const usedCodes = new Map();
async function mailedCode(email) {
  for (const deadline = Date.now() + 10000; ; ) {
    const res = await fetch(`${codeURL}?email=${encodeURIComponent(email)}`);
    check(res.ok, `no code mailed to ${email} (${res.status})`);
    const code = (await res.text()).trim();
    if (code !== usedCodes.get(email)) {
      usedCodes.set(email, code);
      return code;
    }
    check(Date.now() < deadline, `no new code mailed to ${email}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// submit clicks the form's submit button (by its id or its position: the
// label changes with the language) and waits for the page it leads to.
async function submit(page, selector = 'form.form button[type=submit]') {
  await Promise.all([page.waitForEvent('load'), page.locator(selector).first().click()]);
}

function problem(name, lang, message) {
  summary.problems.push(`${name} [${lang}]: ${message}`);
}

// capture checks the page as it stands, under name, in both schemes, and
// screenshots it if it is one of shotPages.
async function capture(page, lang, name) {
  step(`${name} [${lang}]`);
  const started = Date.now();
  for (const scheme of schemes) {
    await page.emulateMedia({ colorScheme: scheme });
    const violations = await page.evaluate(async (values) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values }, resultTypes: ['violations'] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
      }));
    }, tags);
    summary.checked++;
    if (violations.length > 0) {
      summary.violations.push({ page: `${name} [${lang}, ${scheme}] ${new URL(page.url()).pathname}`, rules: violations });
    }
    if (name in shotPages) {
      for (const [vp, size] of Object.entries(viewports)) {
        await page.setViewportSize(size);
        const file = `${name}.${lang}.${scheme}.${vp}.png`;
        await page.screenshot({
          path: path.join(outDir, file),
          fullPage: false,
          animations: 'disabled',
          caret: 'hide',
          mask: shotPages[name].map((s) => page.locator(s)),
        });
        summary.shots.push(file);
      }
      await page.setViewportSize(viewports.desktop);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  if (process.env.PAGES_TIMING) console.error(`${name} [${lang}] ${Date.now() - started} ms`);
}

// checkRefused checks a page that refused its form: the message is in an
// alert, each field in error is aria-invalid and described by a visible
// message, and focus is on the first of them (autofocus, no script).
async function checkRefused(page, lang, name) {
  const ok = await page
    .waitForFunction(() => document.activeElement && document.activeElement.matches('input, select, textarea'), null, { timeout: 3000 })
    .then(() => true)
    .catch(() => false);
  const s = await page.evaluate(() => {
    const alerts = [...document.querySelectorAll('[role=alert], [aria-live]')].filter((e) => e.textContent.trim() && !e.hidden);
    const invalid = [...document.querySelectorAll('[aria-invalid=true]')];
    return {
      alert: alerts.map((e) => e.textContent.trim()).join(' | '),
      invalid: invalid.map((e) => ({
        id: e.id,
        described: (e.getAttribute('aria-describedby') || '')
          .split(/\s+/)
          .filter(Boolean)
          .map((id) => (document.getElementById(id) || { textContent: '' }).textContent.trim())
          .filter(Boolean),
      })),
      active: document.activeElement ? document.activeElement.id : '',
    };
  });
  if (!s.alert) problem(name, lang, 'no alert (role=alert or aria-live) says what was refused');
  if (s.invalid.length === 0) problem(name, lang, 'no field is aria-invalid');
  for (const f of s.invalid) {
    if (f.described.length === 0) problem(name, lang, `field #${f.id} is aria-invalid but described by no message`);
  }
  if (!ok || s.invalid.length === 0 || s.active !== s.invalid[0].id) {
    problem(name, lang, `focus is on #${s.active || '(nothing)'}, want the first field in error #${s.invalid[0] && s.invalid[0].id}`);
  }
}

async function newContext(browser, lang, options = {}) {
  const context = await browser.newContext({ locale: lang, viewport: viewports.desktop, deviceScaleFactor: 1, colorScheme: 'light', reducedMotion: 'reduce', ...options });
  context.setDefaultTimeout(15000);
  await context.addInitScript({ content: axeSource });
  // The page a sign-in goes on to answers 204, so the browser stays on
  // the continue page that leads there.
  await context.route(`${base}${privatePath}**`, (route) => route.fulfill({ status: 204 }));
  const page = await context.newPage();
  watch(page, lang);
  return { context, page };
}

async function signIn(page, email, pw) {
  await page.goto(`${base}/_gatehouse/signin?rd=${encodeURIComponent(privatePath)}`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(pw);
  await submit(page);
}

async function walk(browser, lang, failure) {
  // Signed out: sign-in, sign-up, confirmation, reset, error.
  {
    const { context, page } = await newContext(browser, lang);
    failure.page = page;
    await page.goto(`${base}/_gatehouse/signin?rd=${encodeURIComponent(privatePath)}`);
    if (lang === langs[0]) {
      // The checker itself: an input without a label and pale text must
      // be reported, or a silent axe would pass every page.
      const found = await page.evaluate(async (values) => {
        const bad = document.createElement('div');
        bad.innerHTML = '<input type="text"><p>pale</p>';
        Object.assign(bad.querySelector('p').style, { color: '#ccc', background: '#fff' });
        document.querySelector('main').append(bad);
        const r = await window.axe.run(document, { runOnly: { type: 'tag', values }, resultTypes: ['violations'] });
        bad.remove();
        return r.violations.map((v) => v.id);
      }, tags);
      check(found.includes('label') && found.includes('color-contrast'), `axe-core missed planted violations: it found ${JSON.stringify(found)}`);
    }
    await capture(page, lang, 'signin');

    await page.locator('#email').fill(`nobody-${lang}@example.com`);
    await page.locator('#password').fill('not the password');
    await submit(page);
    check(new URL(page.url()).pathname === '/_gatehouse/signin', `a wrong password led to ${page.url()}`);
    await capture(page, lang, 'signin-error');
    await checkRefused(page, lang, 'signin-error');

    await page.goto(`${base}/_gatehouse/signup?rd=${encodeURIComponent(privatePath)}`);
    await capture(page, lang, 'signup');
    // The browser's own checks are lifted, as an older browser's would
    // be, so the server's field errors show: a common password and no
    // name.
    await page.evaluate(() => document.querySelectorAll('[required]').forEach((e) => e.removeAttribute('required')));
    await page.locator('#f-email').fill(`new-${lang}@example.com`);
    await page.locator('#f-password').fill('password1234');
    await submit(page);
    check((await page.locator('[aria-invalid=true]').count()) >= 2, 'sign-up with a common password and no name shows no two field errors');
    await capture(page, lang, 'signup-errors');
    await checkRefused(page, lang, 'signup-errors');

    await page.goto(`${base}/_gatehouse/confirm?email=${encodeURIComponent(`new-${lang}@example.com`)}`);
    await capture(page, lang, 'confirm');
    await page.locator('#f-code').fill('000000');
    await page.locator('#f-password').fill(password);
    await submit(page, 'button[value=confirm]');
    await capture(page, lang, 'confirm-error');
    await checkRefused(page, lang, 'confirm-error');

    await page.goto(`${base}/_gatehouse/forgot`);
    await capture(page, lang, 'forgot');
    await page.goto(`${base}/_gatehouse/reset`);
    await capture(page, lang, 'reset');
    await page.locator('#f-email').fill(`mfa-${lang}@example.com`);
    await page.locator('#f-code').fill('000000');
    await page.locator('#f-password').fill(newPassword);
    await submit(page);
    await capture(page, lang, 'reset-error');
    await checkRefused(page, lang, 'reset-error');

    const notFound = await page.goto(`${base}/_gatehouse/no-such-page`);
    check(notFound.status() === 404, `an unknown page answered ${notFound.status()}`);
    await capture(page, lang, 'error');
    await context.close();
  }

  // A temporary password: the new password, then codes by email set up.
  {
    const { context, page } = await newContext(browser, lang);
    failure.page = page;
    await signIn(page, `temp-${lang}@example.com`, tempPassword);
    check((await page.locator('input[name=challenge]').count()) === 1 && (await page.locator('#f-password').count()) === 1, 'a temporary password did not ask for a new one');
    await capture(page, lang, 'new-password');
    await page.locator('#f-password').fill('password1234');
    await submit(page);
    await capture(page, lang, 'new-password-error');
    await checkRefused(page, lang, 'new-password-error');
    await page.locator('#f-password').fill(newPassword);
    await submit(page);
    check((await page.locator('#totp-secret').count()) === 1, 'after the new password, no set-up of a second step');
    await submit(page, '#email-instead');
    check((await page.locator('#f-code').count()) === 1, 'choosing codes by email did not ask for the code');
    await capture(page, lang, 'mfa-setup-email');
    await context.close();
  }

  // A user without a factor: the set-up, recovery codes, the account page.
  {
    const { context, page } = await newContext(browser, lang);
    failure.page = page;
    const email = `mfa-${lang}@example.com`;
    await signIn(page, email, password);
    check((await page.locator('#totp-secret').count()) === 1, `${email}'s sign-in did not set up a second step`);
    await capture(page, lang, 'mfa-setup');
    await page.locator('#f-code').fill('000000');
    await submit(page);
    await capture(page, lang, 'mfa-setup-error');
    await checkRefused(page, lang, 'mfa-setup-error');
    await page.locator('#f-code').fill(totp(await page.locator('#totp-secret').innerText()));
    await submit(page);
    check((await page.locator('#recovery-codes li').count()) > 0, 'no recovery codes after the set-up');
    await capture(page, lang, 'recovery-codes');
    const account = await page.goto(`${base}/_gatehouse/account`);
    check(account.status() === 200 && new URL(page.url()).pathname === '/_gatehouse/account', `the account page is ${page.url()} (${account.status()})`);
    await capture(page, lang, 'account');
    // The "confirm it's you" step, and a wrong password there.
    await page.goto(`${base}/_gatehouse/account/confirm?next=${encodeURIComponent('/_gatehouse/account')}`);
    check((await page.locator('#confirm-password').count()) === 1, `the confirm step is ${page.url()}, with no password form`);
    await capture(page, lang, 'reauth');
    await page.locator('#confirm-password input[type=password]').fill('not the password at all');
    await submit(page, '#confirm-password button[type=submit]');
    await capture(page, lang, 'reauth-error');
    await checkRefused(page, lang, 'reauth-error');
    await context.close();
  }

  // A user with an app and email codes: the code page offers both.
  {
    const { context, page } = await newContext(browser, lang);
    failure.page = page;
    const email = `both-${lang}@example.com`;
    await signIn(page, email, password);
    check((await page.locator('#email-code').count()) === 1, `${email}'s sign-in offered no choice of an emailed code`);
    await capture(page, lang, 'mfa-totp');
    await page.locator('#f-code').fill('000000');
    await submit(page);
    await capture(page, lang, 'mfa-error');
    await checkRefused(page, lang, 'mfa-error');
    await mailedCode(email); // the code that turned email codes on: not the one to wait for
    await submit(page, '#email-code');
    await capture(page, lang, 'mfa-email');
    await page.locator('#f-code').fill(await mailedCode(email));
    await submit(page);
    check((await page.locator('#continue').count()) === 1, `an emailed code led to ${page.url()}, not the continue page`);
    await capture(page, lang, 'continue');
    await context.close();
  }

  // The relay page, as a browser without scripts shows it: a provider's
  // cross-site POST to the callback that came without its flow cookie.
  {
    // relay.js would post the form at once: without it the page stays,
    // as it does for a browser without scripts.
    const { context, page } = await newContext(browser, lang);
    failure.page = page;
    await page.route(`${base}/_gatehouse/static/relay.js`, (route) => route.abort());
    const callback = `${base}/_gatehouse/oauth2/idpresponse`;
    await page.route(callback, (route) =>
      route.continue({
        method: 'POST',
        headers: { ...route.request().headers(), 'content-type': 'application/x-www-form-urlencoded' },
        postData: `state=${'a'.repeat(43)}&code=abc`,
      }),
    );
    await page.goto(callback);
    check((await page.locator('#relay').count()) === 1, `the callback's POST answered ${page.url()} without the relay form`);
    await capture(page, lang, 'relay');
    await context.close();
  }
}

const browser = await launch(outDir);
summary.browser = browser.version();
await run(browser, summary, async (failure) => {
  for (const lang of langs) await walk(browser, lang, failure);
  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
