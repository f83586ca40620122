// A single-page app on another origin calls the Cognito user-pool API from
// Chromium: first with amazon-cognito-identity-js's browser build, then
// with Amplify v6 (bundled by esbuild), both signing in with their default
// USER_SRP_AUTH. Run by module/browser_cognito_test.go
// (TestBrowserCognitoAPI):
//
//	node cognito_api.mjs <app> <issuer> <email> <password> <codes-url> <screenshot-dir>

import { check, launch, networkLog, openPage, pageErrors, run, shoot, step } from './harness.mjs';
import { checkCORS, holdCookie, settled, waitError, waitState } from './cognito_helpers.mjs';

const [app, issuer, email, password, , shots] = process.argv.slice(2);
const wrongPassword = 'not the password at all';

async function signInForm(page, pw) {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(pw);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// wrongThenRight signs in with a wrong password (the page must show
// NotAuthorizedException), then the right one.
async function wrongThenRight(page, label) {
  step(`${label}: a wrong password shows NotAuthorizedException`);
  await signInForm(page, wrongPassword);
  const error = await waitError(page);
  check(error === 'NotAuthorizedException: Incorrect username or password.', `the page shows "${error}"`);
  await shoot(page, `${label}-wrong-password`);

  step(`${label}: SRP sign-in`);
  await signInForm(page, password);
  await waitState(page, `signed in as ${email}`);
  const tokens = await page.evaluate(() => window.tokens);
  check(tokens && tokens.access && tokens.id, `no tokens in the app: ${JSON.stringify(tokens)}`);
  const claims = JSON.parse(Buffer.from(tokens.id.split('.')[1], 'base64url').toString());
  check(claims.iss === issuer && claims.email === email && claims.aud === 'cogapp', `ID token claims ${JSON.stringify(claims)}`);
  await shoot(page, `${label}-signed-in`);
  return tokens;
}

// srpUsed: the sign-in went InitiateAuth USER_SRP_AUTH, then PASSWORD_VERIFIER.
function srpUsed(log) {
  const init = log.filter((e) => e.target.endsWith('.InitiateAuth'));
  const verify = log.filter((e) => e.target.endsWith('.RespondToAuthChallenge'));
  check(init.length > 0 && init.every((e) => e.body.includes('"USER_SRP_AUTH"')), `the sign-in was not USER_SRP_AUTH: ${JSON.stringify(init.map((e) => e.body.slice(0, 120) || e.type))}`);
  check(verify.some((e) => e.body.includes('"PASSWORD_VERIFIER"') && e.status === 200), 'no PASSWORD_VERIFIER answered 200');
}

const browser = await launch(shots);
const summary = { ok: false, app, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  {
    const { context, page } = await openPage(browser, failure, 'identityjs', { ignoreHTTPSErrors: true });
    await holdCookie(context, issuer);
    const log = await networkLog(context, page, issuer);
    step('identity-js: the app on its own origin');
    await page.goto(app + '/identityjs.html');
    await waitState(page, 'signed out');
    const tokens = await wrongThenRight(page, 'identityjs');
    srpUsed(log);

    step('identity-js: GetUser with the access token');
    await page.getByRole('button', { name: 'Get user' }).click();
    await page.waitForFunction(() => document.getElementById('user').textContent !== '', null, { timeout: 10000 }).catch(() => {});
    const user = await page.locator('#user').textContent();
    check(user.endsWith(` ${email}`), `the page shows user "${user}" (error: ${await page.locator('#error').textContent()})`);

    step('identity-js: global sign-out, and the access token is refused afterwards');
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await waitState(page, 'signed out everywhere');
    const after = await page.evaluate((tok) => window.page.rawGetUser(tok), tokens.access);
    check(after.status === 400 && after.body.__type === 'NotAuthorizedException', `GetUser after GlobalSignOut: ${JSON.stringify(after)}`);

    step('identity-js: a call with credentials is refused by the browser');
    const credentialed = await page.evaluate(() => window.page.credentialedCall());
    check(credentialed.startsWith('refused'), `a credentialed call ${credentialed}`);
    const probe = (e) => e.method === 'POST' && e.body === '{"AccessToken":"x"}';
    // DevTools reports the failure a moment after fetch rejects.
    await settled(page, () => (log.find(probe) || {}).failed);
    const refusedCall = log.find(probe);
    check(refusedCall && /CORS/.test(refusedCall.failed || ''), `the credentialed call: ${JSON.stringify(refusedCall)}`);
    summary.identityjs = checkCORS(log, ['InitiateAuth', 'RespondToAuthChallenge', 'GetUser', 'GlobalSignOut'], { ignore: probe });
    await context.close();
  }
  {
    const { context, page } = await openPage(browser, failure, 'amplify', { ignoreHTTPSErrors: true });
    await holdCookie(context, issuer);
    const log = await networkLog(context, page, issuer);
    step('Amplify: the bundled app on its own origin');
    await page.goto(app + '/amplify.html');
    await waitState(page, 'signed out');
    await wrongThenRight(page, 'amplify');
    srpUsed(log);
    const result = await page.evaluate(() => window.signInResult);
    check(result.isSignedIn && result.nextStep.signInStep === 'DONE', `signIn answered ${JSON.stringify(result)}`);

    step('Amplify: fetchAuthSession after a reload');
    await page.reload();
    await waitState(page, `signed in as ${email}`);

    step('Amplify: signOut');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await waitState(page, 'signed out');
    summary.amplify = checkCORS(log, ['InitiateAuth', 'RespondToAuthChallenge', 'RevokeToken']);
    await shoot(page, 'amplify-signed-out');
    await context.close();
  }

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
