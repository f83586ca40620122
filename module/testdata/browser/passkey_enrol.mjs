// Drives Debian's Chromium through a sign-in to a pool with `mfa required`
// by a user with no second factor yet: on the set-up page they choose "Set
// up a passkey instead", Chromium's virtual authenticator (DevTools
// protocol, WebAuthn domain) makes one, the recovery codes are shown once
// in place of the app's QR code, and "Continue" reaches the page they
// asked for. Run by module/browser_passkey_test.go
// (TestBrowserPasskeyEnrolment); by hand:
//
//	node module/testdata/browser/passkey_enrol.mjs <base-url> <email> <password> <screenshot-dir> <display-name>
//
// The base URL must name a host (http://localhost:PORT), as for
// passkey.mjs. It prints one JSON summary line on stdout and exits 0, or
// prints what failed on stderr (plus a JSON line with "ok": false) and
// exits 1.

import { check, launch, openPage, pageErrors, run, shoot, step, virtualAuthenticator } from './harness.mjs';

const [argBase, email, password, shots, displayName] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !email || !password || !shots || !displayName) {
  console.error('usage: passkey_enrol.mjs <base-url> <email> <password> <screenshot-dir> <display-name>');
  process.exit(2);
}

const privatePath = '/private/page';

const browser = await launch(shots);

const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'desktop');

  step('add a virtual authenticator');
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

  step('sign in with the password: the pool asks for a second step');
  await page.goto(base + privatePath);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Set up an authenticator app' }).waitFor({ timeout: 10000 });
  const enrol = page.getByRole('button', { name: 'Set up a passkey instead' });
  await enrol.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {});
  check(await enrol.isVisible(), 'no visible "Set up a passkey instead" button (did webauthn.js run?)');
  await shoot(page, 'setup-with-passkey');

  step('set up a passkey instead of an app');
  await enrol.click();
  const codes = page.locator('#passkey-codes');
  await codes.waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
  const err = (await page.locator('[data-webauthn-error]').innerText().catch(() => '')).trim();
  check(await codes.isVisible(), `no recovery codes after setting up the passkey (error: ${JSON.stringify(err)})`);
  const shown = await codes.locator('li code').allInnerTexts();
  check(shown.length === 10 && shown.every((c) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(c)), `recovery codes shown: ${JSON.stringify(shown)}`);
  check(!(await page.locator('ol.steps').isVisible()), "the app's QR code is still shown next to the recovery codes");
  check((await page.locator('h1').innerText()).trim() === 'Save your recovery codes', 'the heading still speaks of an app');
  await shoot(page, 'setup-passkey-codes');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1, `authenticator holds ${credentials.length} credentials, want 1`);

  step('continue to the page asked for');
  await Promise.all([page.waitForURL((u) => u.pathname === privatePath), codes.getByRole('link', { name: 'Continue' }).click()]);
  summary.upstreamBody = (await page.locator('body').innerText()).trim();
  check(summary.upstreamBody === 'upstream', `the upstream's page says ${JSON.stringify(summary.upstreamBody)}`);
  await context.close();

  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
