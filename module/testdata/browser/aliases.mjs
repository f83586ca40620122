// Drives Chromium through sign-in aliases (sign_in_with email username):
// sign up with a username, confirm with the mailed code, then sign in by
// typing the username in another case into the "Email or username" field
// (a type=text input, so the browser does not refuse a non-address), and
// land on the page first asked for as the new user. Run by
// module/browser_aliases_test.go (TestBrowserAliases); by hand:
//
//	node module/testdata/browser/aliases.mjs <base-url> <code-url> <email> <screenshot-dir> <display-name>

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, argCodeURL, argEmail, argShots] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
const codeURL = argCodeURL || '';
const email = argEmail || '';
if (!base || !codeURL || !email || !argShots) {
  console.error('usage: aliases.mjs <base-url> <code-url> <email> <screenshot-dir> <display-name>');
  process.exit(2);
}
const privatePath = '/private/page?x=1';
const password = 'a quiet walk in the hills';
const username = 'Dorothy.V';

async function click(page, name, postPath) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === postPath),
    page.getByRole('button', { name, exact: true }).click(),
  ]);
  await page.waitForLoadState('load');
  return resp;
}

const browser = await launch(argShots);
const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'aliases');

  step('the sign-in page asks for an email or username');
  await page.goto(base + privatePath);
  const login = page.getByLabel('Email or username', { exact: true });
  check((await login.count()) === 1, 'no single input labelled "Email or username"');
  check((await login.getAttribute('type')) === 'text', `the login input is type=${await login.getAttribute('type')}`);
  check((await login.getAttribute('inputmode')) === null, 'the login input has an input mode');
  check(((await login.getAttribute('autocomplete')) || '').startsWith('username'), 'the login input is not autocomplete=username');
  await shoot(page, 'aliases-signin');

  step('sign up with a username');
  await page.goto(base + '/_gatehouse/signup?rd=' + encodeURIComponent(privatePath));
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Full name', { exact: true }).fill('Dorothy Vaughan');
  await page.getByLabel('Username', { exact: false }).fill(username);
  const created = await click(page, 'Create account', '/_gatehouse/signup');
  check(created.status() === 303, `sign-up answered ${created.status()}, want 303`);
  const res = await fetch(`${codeURL}?email=${encodeURIComponent(email)}`);
  check(res.ok, `the test's code endpoint answered ${res.status}`);
  await page.getByLabel('Code', { exact: true }).fill((await res.text()).trim());
  await page.getByLabel('Password', { exact: true }).fill(password);
  const confirmed = await click(page, 'Confirm', '/_gatehouse/confirm');
  check(confirmed.status() === 303, `confirming answered ${confirmed.status()}, want 303`);

  step('sign in by the username, in capitals');
  await page.goto(base + privatePath);
  await page.getByLabel('Email or username', { exact: true }).fill(username.toUpperCase());
  await page.getByLabel('Password', { exact: true }).fill(password);
  const signedIn = await click(page, 'Sign in', '/_gatehouse/signin');
  check(signedIn.status() === 200, `sign-in answered ${signedIn.status()}, want 200 (the continue page)`);
  await page.waitForURL((url) => url.pathname + url.search === privatePath, { timeout: 10000 }).catch(() => {});
  const body = await page.locator('body').innerText();
  check(body.includes(`X-Auth-Request-Email: ${email}`), `the upstream does not show the user: ${JSON.stringify(body.slice(0, 300))}`);
  await shoot(page, 'aliases-upstream');
  await context.close();

  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
