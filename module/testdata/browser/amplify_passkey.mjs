// Amplify v6's passkeys in Chromium, from an app on its own origin (the
// pool's webauthn_origin) against the Cognito-compatible API, with
// Chromium's virtual authenticator: sign in with SRP, add a passkey
// (associateWebAuthnCredential), sign out, then sign in by USER_AUTH with
// the passkey alone. Run by module/browser_cognito_test.go
// (TestBrowserAmplifyPasskey):
//
//	node amplify_passkey.mjs <app> <issuer> <email> <password> <codes-url> <screenshot-dir>

import { check, launch, networkLog, openPage, pageErrors, run, shoot, step, virtualAuthenticator } from './harness.mjs';
import { checkCORS, holdCookie, waitState } from './cognito_helpers.mjs';

const [app, issuer, email, password, , shots] = process.argv.slice(2);

// bodies of the API calls the log holds for one action.
const calls = (log, action) => log.filter((e) => e.target.endsWith('.' + action) && e.method === 'POST');

const browser = await launch(shots);
const summary = { ok: false, app, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'amplify-passkey', { ignoreHTTPSErrors: true });
  await holdCookie(context, issuer);
  const log = await networkLog(context, page, issuer);
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

  step('sign in with SRP');
  await page.goto(app + '/amplify.html');
  await waitState(page, 'signed out');
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitState(page, `signed in as ${email}`);

  step('add a passkey: StartWebAuthnRegistration, the ceremony, CompleteWebAuthnRegistration');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await waitState(page, 'passkeys: 1');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].rpId === new URL(app).hostname,
    `the authenticator holds ${JSON.stringify(credentials.map((c) => c.rpId))}, want one passkey for ${new URL(app).hostname}`);
  check(calls(log, 'CompleteWebAuthnRegistration').some((e) => e.status === 200), 'CompleteWebAuthnRegistration was not answered 200');
  await shoot(page, 'passkey-added');

  step('sign out');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await waitState(page, 'signed out');

  step('sign in with the passkey alone: USER_AUTH, WEB_AUTHN');
  await page.locator('#password').fill('');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await waitState(page, `signed in as ${email}`);
  const result = await page.evaluate(() => window.signInResult);
  check(result && result.isSignedIn && result.nextStep.signInStep === 'DONE', `signIn answered ${JSON.stringify(result)}`);
  const init = calls(log, 'InitiateAuth').at(-1);
  check(init && init.body.includes('"USER_AUTH"') && init.body.includes('"WEB_AUTHN"'), `the last InitiateAuth was ${init && init.body.slice(0, 200)}`);
  const answer = calls(log, 'RespondToAuthChallenge').at(-1);
  check(answer && answer.body.includes('"WEB_AUTHN"') && answer.status === 200, `the WEB_AUTHN answer: ${answer && answer.status}`);
  check(!answer.body.includes(password), 'the passkey sign-in sent the password');
  const claims = await page.evaluate(() => window.tokens && window.tokens.claims);
  check(claims && claims.amr && claims.amr.includes('hwk'), `the ID token's amr is ${JSON.stringify(claims && claims.amr)}, want hwk`);
  await shoot(page, 'passkey-signed-in');

  summary.cors = checkCORS(log, ['InitiateAuth', 'RespondToAuthChallenge', 'StartWebAuthnRegistration', 'CompleteWebAuthnRegistration', 'ListWebAuthnCredentials', 'RevokeToken']);
  await context.close();

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
