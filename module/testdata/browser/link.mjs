// The account page's "Linked accounts" round trip in Chromium: a pool user
// signed in with a password links an outside OpenID provider (on another
// site), is back on the account page with the link shown, signs out, signs
// in through the provider as the same user, and unlinks it. Run by
// module/browser_link_test.go (TestBrowserAccountLink):
//
//	node link.mjs <base> <provider-issuer> <email> <password> <screenshot-dir>
//
// The provider is module/testdata/oidc-provider/federation.mjs, where
// grace@navy.example signs in with "correct horse".

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [base, issuer, email, password, shots] = process.argv.slice(2);
const account = base + '/_gatehouse/account';
const providerLogin = 'grace@navy.example';

// atProvider signs in on the provider's page, unless (mayPass) the
// provider still has its own session from before and sends the browser
// straight back to the account page.
async function atProvider(page, mayPass) {
  const login = page.locator('#login');
  const shown = login.waitFor({ state: 'visible', timeout: 10000 });
  await (mayPass ? Promise.race([shown, page.waitForURL(account, { timeout: 10000 })]) : shown).catch(() => {});
  if (mayPass && !page.url().startsWith(issuer + '/')) return;
  check(page.url().startsWith(issuer + '/'), `browser is on ${page.url()}, want the provider's sign-in page`);
  await login.fill(providerLogin);
  await page.locator('#password').fill('correct horse');
  await page.locator('#submit').click();
}

// confirmed clicks the button id on the account page, which first sends
// the browser to "confirm it's you"; it confirms with the password there
// and, back on the account page, clicks again.
async function confirmed(page, id) {
  await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account/confirm', { timeout: 10000 }), page.locator(id).click()]);
  check(await page.locator('#not-saved').isVisible(), 'the confirm step does not say the change was not made');
  await page.getByLabel('Current password', { exact: true }).fill(password);
  await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account', { timeout: 10000 }), page.getByRole('button', { name: 'Confirm', exact: true }).click()]);
  await page.locator(id).click();
}

async function onAccountPage(page, notice) {
  await page.waitForURL((u) => u.href.startsWith(account), { timeout: 10000 }).catch(() => {});
  check(page.url().startsWith(account), `browser is on ${page.url()}, want the account page`);
  const facts = await page.locator('.facts').innerText();
  check(facts.includes(email), `the account page is not ${email}'s: ${facts}`);
  if (notice) {
    // The page may also say that a confirmation stands (a second status).
    const status = (await page.getByRole('status').allInnerTexts()).join(' | ');
    check(status.includes(notice), `the account page says "${status}", want "${notice}"`);
  }
}

const browser = await launch(shots);
const summary = { ok: false, base, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'link');

  step('sign in with the password, open the account page');
  await page.goto(account);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await onAccountPage(page);
  const methods = page.locator('section[aria-labelledby="idp-heading"]');
  check((await methods.innerText()).includes('You sign in with your password only.'), 'the account has a linked provider already');
  await shoot(page, 'link-before');

  step('link Corp SSO: confirm it\'s you with the password, then the provider on its own site');
  await confirmed(page, '#link-corp');
  await atProvider(page);

  step('back on the account page with the link shown');
  await onAccountPage(page, 'linked');
  const identities = await page.locator('#identities').innerText();
  check(identities.includes('Corp SSO'), `the sign-in methods show ${identities}`);
  await shoot(page, 'link-linked');

  step('sign out, sign in through the provider as the same user');
  await page.goto(base + '/_gatehouse/logout');
  await page.goto(account);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `after sign-out the browser is on ${page.url()}`);
  await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
  await atProvider(page, true);
  await onAccountPage(page);
  check((await page.locator('#identities').innerText()).includes('Corp SSO'), 'the provider sign-in reached an account without the link');
  await shoot(page, 'link-signed-in-with-provider');

  step('unlink Corp SSO (a new session: confirm it\'s you again)');
  await confirmed(page, '#unlink-corp');
  await onAccountPage(page, 'unlinked');
  check((await methods.innerText()).includes('You sign in with your password only.'), `after unlinking: ${await methods.innerText()}`);
  check(await page.locator('#link-corp').isVisible(), 'no Link button after unlinking');
  await shoot(page, 'link-unlinked');

  step('the provider no longer signs in to this account');
  await page.goto(base + '/_gatehouse/logout');
  await page.goto(account);
  await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
  await atProvider(page, true);
  // The provider's user is no longer the pool user: the sign-in makes an
  // account of its own (create_users is on), with the provider's address.
  await page.waitForURL(account, { timeout: 10000 }).catch(() => {});
  check(page.url() === account, `after unlinking the provider sign-in ended on ${page.url()}`);
  const facts = await page.locator('.facts').innerText();
  check(facts.includes(providerLogin) && !facts.includes(email), `after unlinking the provider signed in to: ${facts}`);
  await shoot(page, 'link-provider-own-account');
  await context.close();

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
