// Drives Debian's Chromium through Gatehouse's self sign-up the way a person
// would: from a private page to sign-in, to "Create an account", a refused
// password, a good one, the code from the email, the confirmation, sign-in,
// the page first asked for, and the account page. Run by
// module/browser_signup_test.go (TestBrowserSignUp); by hand:
//
//	node module/testdata/browser/signup.mjs <base-url> <code-url> <email> <screenshot-dir> <display-name>
//
// <code-url>?email=<address> must answer with the 6-digit code last mailed to
// that address (the test serves it from its SMTP server). CHROMIUM overrides
// the browser binary (default /usr/bin/chromium).
//
// It prints one JSON summary line on stdout and exits 0, or prints what
// failed on stderr (plus a JSON line with "ok": false) and exits 1.

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, argCodeURL, argEmail, argShots, argDisplay] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
const codeURL = argCodeURL || '';
const email = argEmail || '';
const shots = argShots || '';
const displayName = argDisplay || '';

if (!base || !codeURL || !email || !shots || !displayName) {
  console.error('usage: signup.mjs <base-url> <code-url> <email> <screenshot-dir> <display-name>');
  process.exit(2);
}

const privatePath = '/private/page?x=1';
const password = 'a quiet walk in the hills';






// click presses a button and waits for the answer to the POST and the page
// it leads to.
async function click(page, name, postPath) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === postPath),
    page.getByRole('button', { name, exact: true }).click(),
  ]);
  await page.waitForLoadState('load');
  return resp;
}

const browser = await launch(shots);

const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'signup');

  step('open a private page and follow "Create an account"');
  await page.goto(base + privatePath);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
  await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/signup'), page.getByRole('link', { name: 'Create an account' }).click()]);
  check(new URL(page.url()).searchParams.get('rd') === privatePath, `sign-up page lost the page to return to: ${page.url()}`);
  check(await page.getByRole('heading', { level: 1, name: 'Create an account' }).isVisible(), 'no <h1> "Create an account"');
  // getByLabel finds inputs only through their <label>: the accessibility check.
  for (const label of ['Email', 'Password', 'Full name']) {
    check((await page.getByLabel(label, { exact: true }).count()) === 1, `no single input labelled ${JSON.stringify(label)}`);
  }
  await shoot(page, 'signup');

  step('a common password is refused, with the rule explained');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill('password1234');
  await page.getByLabel('Full name', { exact: true }).fill('Katherine Johnson');
  const refused = await click(page, 'Create account', '/_gatehouse/signup');
  check(refused.status() === 422, `a common password answered ${refused.status()}, want 422`);
  const alertText = (await page.getByRole('alert').first().innerText()).trim();
  check(alertText.includes('correct the fields'), `the alert says ${JSON.stringify(alertText)}`);
  const pw = page.getByLabel('Password', { exact: true });
  check((await pw.getAttribute('aria-invalid')) === 'true', 'the Password field is not marked invalid');
  const describedBy = (await pw.getAttribute('aria-describedby')) || '';
  check(describedBy.includes('f-password-error'), `the Password field is not described by its error (${describedBy})`);
  check((await page.locator('#f-password-error').innerText()).includes('most common passwords'), 'the error does not explain the rule');
  check((await page.getByLabel('Email', { exact: true }).inputValue()) === email, 'the email typed was not kept');
  check((await page.getByLabel('Full name', { exact: true }).inputValue()) === 'Katherine Johnson', 'the name typed was not kept');
  check((await pw.inputValue()) === '', 'the password was sent back into the form');
  await shoot(page, 'signup-error');

  step('a good password creates the account');
  await pw.fill(password);
  const created = await click(page, 'Create account', '/_gatehouse/signup');
  check(created.status() === 303, `sign-up answered ${created.status()}, want 303`);
  check(new URL(page.url()).pathname === '/_gatehouse/confirm', `after sign-up the browser is on ${page.url()}`);
  check((await page.getByLabel('Email', { exact: true }).inputValue()) === email, 'the confirmation page lacks the email');
  await shoot(page, 'confirm');

  step('read the code from the email and confirm');
  const res = await fetch(`${codeURL}?email=${encodeURIComponent(email)}`);
  check(res.ok, `the test's code endpoint answered ${res.status}`);
  const code = (await res.text()).trim();
  check(/^\d{6}$/.test(code), `the code read from the mail is ${JSON.stringify(code)}`);
  await page.getByLabel('Code', { exact: true }).fill(code);
  // The password chosen at sign-up goes with the code: a confirmation
  // activates only a password its confirmer knows.
  await page.getByLabel('Password', { exact: true }).fill(password);
  const confirmed = await click(page, 'Confirm', '/_gatehouse/confirm');
  check(confirmed.status() === 303, `confirming answered ${confirmed.status()}, want 303`);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `after confirming the browser is on ${page.url()}`);
  const notice = (await page.getByRole('status').innerText()).trim();
  check(notice.includes('confirmed'), `the sign-in page says ${JSON.stringify(notice)}`);
  check((await page.getByLabel('Email', { exact: true }).inputValue()) === email, 'the sign-in page is not filled with the email');
  await shoot(page, 'signin-confirmed');

  step('sign in and land on the page first asked for');
  await page.getByLabel('Password', { exact: true }).fill(password);
  const signedIn = await click(page, 'Sign in', '/_gatehouse/signin');
  check(signedIn.status() === 200, `sign-in answered ${signedIn.status()}, want 200 (the continue page)`);
  await page.waitForURL((url) => url.pathname + url.search === privatePath, { timeout: 10000 }).catch(() => {});
  const u = new URL(page.url());
  check(u.pathname + u.search === privatePath, `after sign-in the browser is on ${page.url()}, want ${privatePath}`);
  const body = await page.locator('body').innerText();
  check(body.includes(`X-Auth-Request-Email: ${email}`), `the upstream does not show the new user: ${JSON.stringify(body.slice(0, 300))}`);

  step('the account page shows the confirmed account');
  await page.goto(base + '/_gatehouse/account');
  check(await page.getByRole('heading', { level: 1, name: 'Your account' }).isVisible(), 'no <h1> "Your account"');
  const facts = await page.locator('.facts').innerText();
  check(facts.includes(email) && facts.includes('verified') && facts.includes('CONFIRMED'), `account facts: ${JSON.stringify(facts)}`);
  check((await page.getByLabel('Full name', { exact: true }).inputValue()) === 'Katherine Johnson', 'the account page lacks the name');
  await shoot(page, 'account');
  await context.close();

  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
