// Drives Debian's Chromium through Gatehouse's passkeys with Chromium's own
// virtual authenticator (DevTools protocol, WebAuthn domain): sign in with
// the password, add a passkey on the account page, sign out, and sign in
// again with "Sign in with a passkey" alone, then by picking the passkey
// from the email field's suggestions (conditional mediation). Adding the
// passkey goes through the "confirm it's you" step with the password; at
// the end, in the passkey's own session, removing the passkey sends the
// browser to that step, where it confirms with the passkey, makes new
// recovery codes and removes the passkey without typing the password. Run by
// module/browser_passkey_test.go (TestBrowserPasskey); by hand:
//
//	node module/testdata/browser/passkey.mjs <base-url> <email> <password> <screenshot-dir> <display-name>
//
// The base URL must name a host, not an IP address (http://localhost:PORT):
// browsers offer WebAuthn on domain names only. CHROMIUM overrides the
// browser binary (default /usr/bin/chromium).
//
// It prints one JSON summary line on stdout and exits 0, or prints what
// failed on stderr (plus a JSON line with "ok": false) and exits 1.

import { AxeBuilder } from '@axe-core/playwright';
import { check, launch, openPage, pageErrors, run, shoot, step, virtualAuthenticator } from './harness.mjs';

// accessible fails on any WCAG 2.1 A/AA violation axe-core finds on page.
const accessible = async (page, what) => {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  check(violations.length === 0, `${what}: axe-core finds ${JSON.stringify(violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) })))}`);
};

const [argBase, email, password, shots, displayName] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !email || !password || !shots || !displayName) {
  console.error('usage: passkey.mjs <base-url> <email> <password> <screenshot-dir> <display-name>');
  process.exit(2);
}

const privatePath = '/private/page';

const onPath = (page) => new URL(page.url()).pathname;

const browser = await launch(shots);

const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  {
    const { context, page } = await openPage(browser, failure, 'desktop');

    step('add a virtual authenticator');
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

    step('sign in with the password');
    await page.goto(base + privatePath);
    check(onPath(page) === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
    const passkeyButton = page.getByRole('button', { name: 'Sign in with a passkey' });
    await passkeyButton.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {});
    check(await passkeyButton.isVisible(), 'no visible "Sign in with a passkey" button (did webauthn.js run?)');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await Promise.all([page.waitForURL((u) => u.pathname === privatePath), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);

    step('confirm it\'s you with the password, to add a passkey');
    await page.goto(base + '/_gatehouse/account');
    check(!(await page.locator('#passkey-add').isVisible()), 'the "Add a passkey" form shows before confirming');
    await accessible(page, 'the account page, not confirmed');
    check((await page.locator('input[type="password"]').count()) === 1, 'the account page has password fields besides the new password');
    await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account/confirm'), page.locator('#passkey-confirm-first').click()]);
    check(!(await page.locator('#f-confirm-code').count()), 'the strict confirm step offers a code');
    await shoot(page, 'account-confirm-strict');
    await accessible(page, 'the strict confirm step');
    await page.getByLabel('Current password', { exact: true }).fill(password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account'), page.getByRole('button', { name: 'Confirm', exact: true }).click()]);
    check(await page.locator('#confirmed').isVisible(), 'the account page does not say it was confirmed');

    step('add a passkey on the account page');
    const form = page.locator('#passkey-add');
    await form.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {});
    check(await form.isVisible(), 'the "Add a passkey" form is not visible');
    await page.getByLabel('Name of the passkey').fill('This Chromium');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const codes = page.locator('#passkey-codes');
    await codes.waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    const err = (await page.locator('#passkey-error').innerText().catch(() => '')).trim();
    check(await codes.isVisible(), `no recovery codes after adding the first passkey (error: ${JSON.stringify(err)})`);
    const shown = await codes.locator('li code').allInnerTexts();
    check(shown.length === 10 && shown.every((c) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(c)), `recovery codes shown: ${JSON.stringify(shown)}`);
    await shoot(page, 'account-passkey-codes');
    await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account'), codes.getByRole('link', { name: 'Continue' }).click()]);
    const listed = page.locator('#factors li', { hasText: 'This Chromium' });
    check((await listed.count()) === 1, 'the account page does not list the passkey');
    check((await listed.locator('.badge').innerText()).trim() === 'passkey', 'the listed factor has no "passkey" badge');
    check((await page.getByRole('status').allInnerTexts()).join(' ').includes('passkey was added'), 'no notice that the passkey was added');
    await shoot(page, 'account-passkey');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    check(credentials.length === 1 && credentials[0].isResidentCredential, `authenticator holds ${JSON.stringify(credentials.map((c) => ({ rp: c.rpId, resident: c.isResidentCredential })))}`);
    summary.credential = { rpId: credentials[0].rpId, resident: credentials[0].isResidentCredential, signCount: credentials[0].signCount };

    // With presence off the authenticator answers nothing, so the sign-in
    // page's passkey suggestions wait as they do for a user who has not
    // picked one yet.
    const presence = (enabled) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
    await presence(false);

    step('sign out');
    await page.goto(base + '/_gatehouse/logout');
    check(onPath(page) === '/_gatehouse/signin', `after logout the browser is on ${page.url()}`);

    step('the email field offers passkeys, and waits for a pick');
    await page.goto(base + privatePath);
    check(onPath(page) === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
    const emailField = page.getByLabel('Email', { exact: true });
    const autocomplete = await emailField.getAttribute('autocomplete');
    check(autocomplete === 'username webauthn', `the email field's autocomplete is ${JSON.stringify(autocomplete)}`);
    await page.waitForTimeout(1000);
    check(onPath(page) === '/_gatehouse/signin', `with no passkey picked the browser went to ${page.url()}`);
    await shoot(page, 'signin-passkey');

    step('sign in with the passkey button');
    // The suggestions' request is still waiting: the button must end it
    // before its own, or the browser refuses the second.
    await presence(true);
    await Promise.all([
      page.waitForURL((u) => u.pathname === privatePath, { timeout: 15000 }),
      page.getByRole('button', { name: 'Sign in with a passkey' }).click(),
    ]);
    summary.upstreamBody = (await page.locator('body').innerText()).trim();
    check(summary.upstreamBody === 'upstream', `the upstream's page says ${JSON.stringify(summary.upstreamBody)}`);

    step('sign in by picking the passkey from the email field');
    await presence(false);
    await page.goto(base + '/_gatehouse/logout');
    check(onPath(page) === '/_gatehouse/signin', `after logout the browser is on ${page.url()}`);
    // Chromium's virtual authenticator picks its one passkey for a
    // suggestion request made while presence is on: the user's pick, with
    // no click on the button. Leave the page first, so that its own
    // request cannot be the one that gets the pick.
    await page.goto('about:blank');
    await presence(true);
    await Promise.all([page.waitForURL((u) => u.pathname === privatePath, { timeout: 15000 }), page.goto(base + privatePath)]);
    const body = (await page.locator('body').innerText()).trim();
    check(body === 'upstream', `after the suggestion the upstream's page says ${JSON.stringify(body)}`);

    step('a new session: removing the passkey asks to confirm it\'s you');
    await page.goto(base + '/_gatehouse/account');
    check(await page.locator('#reauth-needed').isVisible(), 'a fresh session is shown as confirmed');
    const row = page.locator('#factors li', { hasText: 'This Chromium' });
    await Promise.all([page.waitForURL((u) => u.pathname === '/_gatehouse/account/confirm'), row.getByRole('button', { name: 'Remove' }).click()]);
    check(await page.locator('#not-saved').isVisible(), 'the confirm step does not say the change was not made');

    step('confirm with the passkey');
    const confirmButton = page.getByRole('button', { name: 'Confirm with a passkey' });
    await confirmButton.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {});
    check(await confirmButton.isVisible(), 'no visible "Confirm with a passkey" button (did webauthn.js run?)');
    await shoot(page, 'account-confirm');
    await accessible(page, 'the confirm step');
    await Promise.all([page.waitForSelector('#confirmed', { timeout: 10000 }), confirmButton.click()]);
    check(onPath(page) === '/_gatehouse/account', `after confirming the browser is on ${page.url()}`);
    await shoot(page, 'account-confirmed');
    await accessible(page, 'the account page, confirmed');

    step('make new recovery codes: a passkey is proof enough');
    // The answer is a page of its own at the same address.
    await Promise.all([page.waitForSelector('#recovery-codes', { timeout: 10000 }), page.getByRole('button', { name: 'Make new recovery codes' }).click()]);
    const fresh = await page.locator('#recovery-codes li code').allInnerTexts();
    check(fresh.length === 10, `making recovery codes while confirmed showed ${JSON.stringify(fresh)}`);
    check(!fresh.some((c) => shown.includes(c)), 'the new recovery codes repeat the old ones');

    step('remove the passkey, with no password typed');
    await page.goto(base + '/_gatehouse/account');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/_gatehouse/account' && u.search.includes('notice=mfa_removed'), { timeout: 10000 }),
      page.locator('#factors li', { hasText: 'This Chromium' }).getByRole('button', { name: 'Remove' }).click(),
    ]);
    check((await page.locator('#factors li').count()) === 0, 'the passkey is still listed after removing it');
    check((await page.getByRole('status').allInnerTexts()).join(' ').includes('removed'), 'no notice that the passkey was removed');
    await shoot(page, 'account-passkey-removed');
    await context.close();
  }

  {
    step('without JavaScript: no passkey button, a <noscript> line');
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    failure.page = page;
    await page.goto(base + '/_gatehouse/signin');
    check(!(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()), 'the passkey button shows without JavaScript');
    check((await page.locator('body').innerText()).includes('Passkeys need JavaScript'), 'no <noscript> note about passkeys');
    await context.close();
  }

  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
