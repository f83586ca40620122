// Cognito's classic hosted-UI links, /login (also with lang=de), /signup and /logout?response_type=code with client_id,
// response_type=code and redirect_uri, followed in Chromium from an app on
// another origin: the browser ends on the redirect_uri with a code, which
// the app exchanges at /oauth2/token (PKCE, from the browser). Run by
// module/browser_cognito_test.go (TestBrowserCognitoHostedURLs):
//
//	node cognito_hostedui.mjs <app> <issuer> <email> <password> <codes-url> <screenshot-dir>

import { check, launch, networkLog, openPage, pageErrors, run, shoot, step } from './harness.mjs';
import { checkCORS, waitState } from './cognito_helpers.mjs';

const [app, issuer, email, password, codes, shots] = process.argv.slice(2);
const appPage = app + '/hostedui.html';
const newEmail = 'katherine@example.com';

// waitOn waits until the browser is on origin+path and checks it.
async function waitOn(page, origin, path, what) {
  await page.waitForURL((u) => u.origin === origin && u.pathname === path, { timeout: 10000 }).catch(() => {});
  const u = new URL(page.url());
  check(u.origin === origin && u.pathname === path, `browser is on ${page.url()}, want ${what}`);
  return u;
}

// signIn fills the hosted sign-in page and checks the browser comes back
// to the app, which exchanged the code.
async function signInBack(page, who, label) {
  await page.locator('#email').fill(who);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitOn(page, app, '/hostedui.html', "the app's redirect_uri");
  await waitState(page, `signed in as ${who}`);
  const tokens = await page.evaluate(() => window.tokens);
  check(tokens.claims.iss === issuer && tokens.claims.aud === 'cogapp', `ID token claims ${JSON.stringify(tokens.claims)}`);
  await shoot(page, `${label}-back`);
}

const browser = await launch(shots);
const summary = { ok: false, app, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  {
    const { context, page } = await openPage(browser, failure, 'login', { ignoreHTTPSErrors: true });
    const log = await networkLog(context, page, issuer);
    step('/login from the app leads to the sign-in page');
    await page.goto(appPage);
    await waitState(page, 'signed out');
    await page.getByRole('link', { name: 'Sign in' }).click();
    const u = await waitOn(page, issuer, '/_gatehouse/signin', 'the hosted sign-in page');
    check((u.searchParams.get('rd') || '').startsWith('/oauth2/authorize?'), `the sign-in page continues to ${u.searchParams.get('rd')}`);
    check(log.some((e) => new URL(e.url).pathname === '/login' && e.type === 'Document'), 'the browser never asked for /login');
    await shoot(page, 'login-signin');

    step('/login: sign in, back on the app with a code it exchanges');
    await signInBack(page, email, 'login');
    summary.login = checkCORS(log, ['/oauth2/token'], { preflight: false });

    step('/logout?response_type=code: signed out, then the sign-in page, not straight back');
    await page.getByRole('link', { name: 'Switch account' }).click();
    const out = await waitOn(page, issuer, '/_gatehouse/signin', 'the sign-in page after signing out');
    check((out.searchParams.get('rd') || '').startsWith('/oauth2/authorize?'), `after signing out the sign-in continues to ${out.searchParams.get('rd')}`);
    check(log.some((e) => new URL(e.url).pathname === '/logout' && e.type === 'Document'), 'the browser never asked for /logout');
    await signInBack(page, email, 'switch');
    await context.close();
  }
  {
    const { context, page } = await openPage(browser, failure, 'signup', { ignoreHTTPSErrors: true });
    const log = await networkLog(context, page, issuer);
    step('/signup from the app leads to the sign-up page');
    await page.goto(appPage);
    await waitState(page, 'signed out');
    await page.getByRole('link', { name: 'Sign up' }).click();
    await waitOn(page, issuer, '/_gatehouse/signup', 'the hosted sign-up page');
    await shoot(page, 'signup');

    step('/signup: create the account');
    await page.getByLabel('Email', { exact: true }).fill(newEmail);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await waitOn(page, issuer, '/_gatehouse/confirm', 'the confirmation page');

    step('/signup: confirm with the mailed code');
    const res = await fetch(`${codes}?email=${encodeURIComponent(newEmail)}`);
    check(res.ok, `the test's code endpoint answered ${res.status}`);
    await page.getByLabel('Code', { exact: true }).fill((await res.text()).trim());
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Confirm' }).click();
    const u = await waitOn(page, issuer, '/_gatehouse/signin', 'the sign-in page after confirming');
    check((u.searchParams.get('rd') || '').startsWith('/oauth2/authorize?'), `after confirming the sign-in continues to ${u.searchParams.get('rd')}`);

    step('/signup: sign in, back on the app with a code it exchanges');
    await signInBack(page, newEmail, 'signup');
    summary.signup = checkCORS(log, ['/oauth2/token'], { preflight: false });
    await context.close();
  }

  {
    const { context, page } = await openPage(browser, failure, 'lang', { ignoreHTTPSErrors: true });
    step("/login with Cognito's lang=de: the hosted pages in German, then back on the app");
    await page.goto(appPage);
    await waitState(page, 'signed out');
    const login = new URL(await page.getByRole('link', { name: 'Sign in' }).getAttribute('href'));
    login.searchParams.set('lang', 'de');
    await page.goto(login.toString());
    await waitOn(page, issuer, '/_gatehouse/signin', 'the hosted sign-in page');
    const lang = await page.locator('html').getAttribute('lang');
    check(lang === 'de', `the sign-in page's lang is ${lang}, want de`);
    await page.getByRole('heading', { name: 'Anmelden' }).waitFor({ timeout: 5000 }).catch(() => {});
    check(await page.getByRole('heading', { name: 'Anmelden' }).isVisible(), 'the sign-in page is not in German');
    await page.locator('#email').fill(email);
    await page.locator('#password').fill(password);
    await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
    await waitOn(page, app, '/hostedui.html', "the app's redirect_uri");
    await waitState(page, `signed in as ${email}`);
    await shoot(page, 'lang-back');
    await context.close();
  }

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
