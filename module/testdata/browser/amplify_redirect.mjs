// Amplify v6's hosted-UI sign-in from an app on another origin, in
// Chromium: signInWithRedirect with loginWith.oauth.domain = the issuer's
// host lands on Gatehouse's sign-in page; after the password the browser is
// back on the app, which exchanges the code at /oauth2/token with PKCE
// (cross-origin: the token endpoint's CORS must let Amplify's headers
// through); signOut goes through /logout and back, ending the issuer's
// session. Run by module/browser_cognito_test.go (TestBrowserAmplifyRedirect):
//
//	node amplify_redirect.mjs <app> <issuer> <email> <password> <codes-url> <screenshot-dir>

import { check, launch, networkLog, openPage, pageErrors, run, shoot, step } from './harness.mjs';
import { checkCORS, holdCookie, settled, waitState } from './cognito_helpers.mjs';

const [app, issuer, email, password, , shots] = process.argv.slice(2);
const appPage = app + '/amplify.html';

async function toSignInPage(page) {
  await page.getByRole('button', { name: 'Sign in with Gatehouse' }).click();
  await page.waitForURL((u) => u.origin === issuer && u.pathname === '/_gatehouse/signin', { timeout: 10000 }).catch(() => {});
  const u = new URL(page.url());
  check(u.origin === issuer && u.pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the issuer's sign-in page`);
  const rd = u.searchParams.get('rd') || '';
  check(rd.startsWith('/oauth2/authorize?'), `the sign-in page continues to ${rd}, want the authorization request`);
  const q = new URL(rd, issuer).searchParams;
  check(q.get('client_id') === 'cogapp' && q.get('code_challenge_method') === 'S256' && q.get('redirect_uri') === appPage,
    `Amplify's authorization request: ${rd}`);
}

const browser = await launch(shots);
const summary = { ok: false, app, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'amplify-redirect', { ignoreHTTPSErrors: true });
  await holdCookie(context, issuer);
  const log = await networkLog(context, page, issuer);

  step('signInWithRedirect from the app lands on the sign-in page');
  await page.goto(appPage);
  await waitState(page, 'signed out');
  await toSignInPage(page);
  await shoot(page, 'amplify-redirect-signin');

  step('sign in on Gatehouse, back on the app with tokens');
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.origin === app, { timeout: 10000 }).catch(() => {});
  check(new URL(page.url()).origin === app, `after sign-in the browser is on ${page.url()}, want the app`);
  await waitState(page, `signed in as ${email}`);
  const tokens = await page.evaluate(() => window.tokens);
  check(tokens.claims.iss === issuer && tokens.claims.aud === 'cogapp' && JSON.stringify(tokens.claims.amr) === '["pwd"]',
    `ID token claims ${JSON.stringify(tokens.claims)}`);
  check(!new URL(page.url()).searchParams.has('code'), `the code stays in the address bar: ${page.url()}`);
  const exchange = log.find((e) => e.method === 'POST' && new URL(e.url).pathname === '/oauth2/token');
  check(exchange && exchange.status === 200 && exchange.body.includes('code_verifier='), `the code exchange: ${JSON.stringify(exchange)}`);
  await shoot(page, 'amplify-redirect-signed-in');

  step('a reload keeps the session');
  await page.reload();
  await waitState(page, `signed in as ${email}`);

  step('signOut goes through /logout and back to the app');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await settled(page, () => log.some((e) => new URL(e.url).pathname === '/logout' && e.status === 302));
  check(log.some((e) => new URL(e.url).pathname === '/logout' && e.status === 302), 'the browser never went through /logout');
  await page.waitForURL((u) => u.origin === app, { timeout: 10000 }).catch(() => {});
  check(new URL(page.url()).origin === app, `after signOut the browser is on ${page.url()}`);
  await waitState(page, 'signed out');

  step('the issuer\'s session is gone: signing in again asks for the password');
  await toSignInPage(page);
  summary.cors = checkCORS(log, ['/oauth2/token']);
  await context.close();

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
