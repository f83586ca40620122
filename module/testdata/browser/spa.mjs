// A single-page app on another origin signs in through the pool's OpenID
// provider with oidc-client-ts (a public client with PKCE), in Debian's
// Chromium: sign-in with a password, then with a password and a TOTP code,
// then with a passkey added on the issuer's account page;
// the token request from the browser (CORS), the profile from the ID token,
// userinfo, silent renew (refresh token), sign-out with
// post_logout_redirect_uri (revoking the tokens first, as
// revokeTokensOnSignout does). Each step checks where the browser is. Run by
// module/browser_spa_test.go (TestBrowserSPA):
//
//	node module/testdata/browser/spa.mjs <spa-origin> <issuer> <email> <password> <totp-email> <totp-secret> <screenshot-dir>
//
// The hosted pages' form-action 'self' applies in Chromium to every redirect
// after a form's POST, so a sign-in that answered with a redirect chain to
// the app's origin would stay on the sign-in page: that is what this catches.

import { createHmac } from 'node:crypto';
import { check, launch, openPage, pageErrors, run, shoot, step, virtualAuthenticator } from './harness.mjs';

const [spa, issuer, email, password, totpEmail, totpSecret, shots] = process.argv.slice(2);
if (!spa || !issuer || !email || !password || !totpEmail || !totpSecret || !shots) {
  console.error('usage: spa.mjs <spa-origin> <issuer> <email> <password> <totp-email> <totp-secret> <screenshot-dir>');
  process.exit(2);
}

const signInPath = '/_gatehouse/signin';

// totp is the code an authenticator app shows for the base32 secret, one
// step (30 s) ahead of now: the current step's code confirmed the factor,
// and a code is good once; the pool accepts one step either side.
function totp(secretBase32, offsetSteps) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.toUpperCase().replace(/=+$/, '')) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offsetSteps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, '0');
}

function at(page, origin, path) {
  const u = new URL(page.url());
  return u.origin === origin && u.pathname === path;
}

async function waitAt(page, origin, path, what) {
  await page.waitForURL((u) => u.origin === origin && u.pathname === path, { timeout: 10000 }).catch(() => {});
  check(at(page, origin, path), `browser is on ${page.url()}, want ${what} (${origin}${path})`);
}

async function state(page) {
  await page.waitForFunction(() => document.getElementById('state').textContent !== 'loading', null, { timeout: 10000 });
  return page.locator('#state').textContent();
}

// signInThroughProvider starts signinRedirect on the app's home page and
// goes through the hosted pages (a TOTP code too, when secret is given)
// back to the app's callback, which shows the user.
async function signInThroughProvider(page, who, secret, label) {
  step(`${label}: signinRedirect from the app`);
  await page.goto(spa + '/index.html');
  check((await state(page)) === 'anonymous', `the app starts signed in: ${await state(page)}`);
  await page.evaluate(() => { window.spa.login(); }); // it navigates away
  await waitAt(page, issuer, signInPath, 'the hosted sign-in page');
  const rd = new URL(page.url()).searchParams.get('rd') || '';
  check(rd.startsWith('/oauth2/authorize?'), `sign-in page's rd is ${rd}, want the authorization request`);
  await shoot(page, `${label}-signin`);

  step(`${label}: password`);
  await page.locator('#email').fill(who);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  if (secret) {
    // The second-factor step is the answer to the password's POST.
    await page.locator('#f-code').waitFor({ state: 'visible', timeout: 10000 });
    check(new URL(page.url()).origin === issuer, `second-factor page on ${page.url()}, want the issuer`);
    step(`${label}: TOTP code`);
    await page.locator('#f-code').fill(totp(secret, 1));
    await shoot(page, `${label}-totp`);
    await page.getByRole('button', { name: 'Verify' }).click();
  }

  step(`${label}: back on the app's callback with a code, tokens fetched from the browser`);
  await waitAt(page, spa, '/callback.html', "the app's redirect URI");
  const s = await state(page);
  check(s === `signed in as ${who}`, `callback page says "${s}", want signed in as ${who}`);
  await shoot(page, `${label}-callback`);
  const user = await page.evaluate(() => window.spa.user());
  check(user && user.profile.email === who && user.profile.iss === issuer, `user from the ID token: ${JSON.stringify(user)}`);
  check(user.refresh, 'no refresh token: silent renew would need an iframe');
  const wantAMR = secret ? ['pwd', 'otp', 'mfa'] : ['pwd'];
  check(JSON.stringify(user.profile.amr) === JSON.stringify(wantAMR), `amr ${JSON.stringify(user.profile.amr)}, want ${JSON.stringify(wantAMR)}`);

  step(`${label}: userinfo (CORS)`);
  const ui = await page.evaluate(() => window.spa.userinfo());
  check(ui.status === 200 && ui.body.email === who && ui.body.sub === user.profile.sub, `userinfo: ${JSON.stringify(ui)}`);

  step(`${label}: silent renew with the refresh token`);
  const renewed = await page.evaluate(() => window.spa.renew());
  check(renewed.accessToken && renewed.accessToken !== user.accessToken && renewed.profile.sub === user.profile.sub,
    `signinSilent: ${JSON.stringify(renewed).slice(0, 300)}`);
  check(at(page, spa, '/callback.html'), `silent renew moved the page to ${page.url()}`);
  const ui2 = await page.evaluate(() => window.spa.userinfo());
  check(ui2.status === 200 && ui2.body.email === who, `userinfo with the renewed token: ${JSON.stringify(ui2)}`);
  return renewed.accessToken;
}

// signOutThroughProvider runs signoutRedirect (which first revokes the
// tokens when the app was built with revokeTokensOnSignout) and checks the
// browser comes back to the app's post-logout page, signed out at the
// provider too.
async function signOutThroughProvider(page, accessToken, revoked, label) {
  step(`${label}: signoutRedirect with post_logout_redirect_uri`);
  await page.evaluate(() => { window.spa.logout(); }); // it navigates away
  await waitAt(page, spa, '/signed-out.html', "the app's post-logout page");
  const s = await state(page);
  check(s === 'signed out', `post-logout page says "${s}"`);
  await shoot(page, `${label}-signed-out`);

  step(`${label}: the old access token after sign-out`);
  const ui = await page.evaluate((tok) => window.spa.userinfoWith(tok), accessToken);
  check(ui.status === (revoked ? 401 : 200), `userinfo with the old access token: ${ui.status}, want ${revoked ? 401 : 200}`);

  step(`${label}: the provider's session is gone: signing in again asks for the password`);
  await page.goto(spa + '/index.html');
  check((await state(page)) === 'anonymous', 'the app still holds a user after sign-out');
  await page.evaluate(() => { window.spa.login(); }); // it navigates away
  await waitAt(page, issuer, signInPath, 'the hosted sign-in page again');
}

const browser = await launch(shots);
await run(browser, { spa, issuer }, async (failure) => {
  // Without revokeTokensOnSignout: the access token outlives the sign-out.
  {
    const { context, page } = await openPage(browser, failure, 'password');
    await context.addInitScript(() => { window.__revoke = false; });
    const tok = await signInThroughProvider(page, email, '', 'password');
    await signOutThroughProvider(page, tok, false, 'password');
    await context.close();
  }
  // Password and TOTP, and revokeTokensOnSignout: the tokens are revoked
  // at /oauth2/revoke (CORS) before the redirect.
  {
    const { context, page } = await openPage(browser, failure, 'totp');
    await context.addInitScript(() => { window.__revoke = true; });
    const tok = await signInThroughProvider(page, totpEmail, totpSecret, 'totp');
    await signOutThroughProvider(page, tok, true, 'totp');
    await context.close();
  }
  // A passkey: added on the issuer's account page after a password
  // sign-in, then the app's next sign-in uses it alone. webauthn.js moves
  // on with location.assign, not a form, so form-action never applies.
  {
    const { context, page } = await openPage(browser, failure, 'passkey');
    await context.addInitScript(() => { window.__revoke = true; });
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
    const presence = (enabled) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
    const tok = await signInThroughProvider(page, email, '', 'passkey');

    step('passkey: add a passkey on the issuer\'s account page');
    // Adding a way to sign in needs "confirm it's you" first, with the
    // password (or a passkey): the account page links to that step.
    await page.goto(issuer + '/_gatehouse/account');
    await page.locator('#passkey-confirm-first').click();
    await page.waitForURL((u) => u.pathname === '/_gatehouse/account/confirm', { timeout: 10000 });
    await page.getByLabel('Current password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/_gatehouse/account', { timeout: 10000 });
    await page.getByLabel('Name of the passkey').fill('This Chromium');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const codes = page.locator('#passkey-codes');
    await codes.waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    check(await codes.isVisible(), 'no recovery codes after adding the passkey');

    // With presence off the sign-in page's passkey suggestions (the email
    // field's conditional request) wait, as for a user who has not picked
    // one; the button then ends that request and makes its own.
    await presence(false);
    await page.goto(spa + '/index.html');
    await signOutThroughProvider(page, tok, true, 'passkey');

    step('passkey: sign in with the passkey alone, back on the app');
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor({ state: 'visible', timeout: 5000 });
    await presence(true);
    // With presence back on, the email field's pending request may answer
    // first and sign in before the click lands (the button is then gone):
    // either way the passkey alone signs in, which waitAt and the amr check
    // below hold the run to.
    await button.click({ timeout: 5000 }).catch(() => {});
    await waitAt(page, spa, '/callback.html', "the app's redirect URI after the passkey");
    const s = await state(page);
    check(s === `signed in as ${email}`, `callback page says "${s}"`);
    const user = await page.evaluate(() => window.spa.user());
    check(user.profile.amr.includes('hwk'), `amr after a passkey: ${JSON.stringify(user.profile.amr)}`);
    await shoot(page, 'passkey-callback');
    await context.close();
  }

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
