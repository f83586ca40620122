// Drives Debian's Chromium through Gatehouse's hosted sign-in the way a
// person would: open a private page, land on sign-in, get the password wrong,
// get it right, arrive where they started, sign out. Run by
// module/browser_test.go (TestBrowserSignIn); by hand:
//
//	node module/testdata/browser/signin.mjs <base-url> <email> <password> <screenshot-dir> [display-name]
//
// Each argument may instead come from the environment: GATEHOUSE_BASE_URL,
// GATEHOUSE_EMAIL, GATEHOUSE_PASSWORD, GATEHOUSE_SHOTS, GATEHOUSE_DISPLAY_NAME.
// CHROMIUM overrides the browser binary (default /usr/bin/chromium).
//
// It prints one JSON summary line on stdout and exits 0, or prints what
// failed on stderr (plus a JSON line with "ok": false) and exits 1.

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, argEmail, argPassword, argShots, argDisplay] = process.argv.slice(2);
const base = (argBase || process.env.GATEHOUSE_BASE_URL || '').replace(/\/+$/, '');
const email = argEmail || process.env.GATEHOUSE_EMAIL || '';
const password = argPassword || process.env.GATEHOUSE_PASSWORD || '';
const shots = argShots || process.env.GATEHOUSE_SHOTS || '';
const displayName = argDisplay || process.env.GATEHOUSE_DISPLAY_NAME || '';

if (!base || !email || !password || !shots || !displayName) {
  console.error('usage: signin.mjs <base-url> <email> <password> <screenshot-dir> <display-name>');
  process.exit(2);
}

const privatePath = '/private/page?x=1';
const signInPath = '/_gatehouse/signin';
const sessionCookie = 'gatehouse_session';
const wrongPasswordText = 'Incorrect email or password.';







function where(page) {
  const u = new URL(page.url());
  return { path: u.pathname, search: u.search, u };
}

// submit clicks the form's button and waits for the answer to the POST and
// for the page it leads to.
async function submit(page) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === signInPath),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.waitForLoadState('load');
  return resp;
}

async function expectSignInPage(page, { js = true } = {}) {
  const { path: p, u } = where(page);
  check(p === signInPath, `browser is on ${page.url()}, want the sign-in page ${signInPath}`);
  check(
    u.searchParams.get('rd') === privatePath,
    `sign-in page has rd=${JSON.stringify(u.searchParams.get('rd'))}, want ${JSON.stringify(privatePath)}`,
  );
  const title = await page.title();
  check(title === `Sign in · ${displayName}`, `title is ${JSON.stringify(title)}, want "Sign in · ${displayName}"`);
  check(
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).isVisible(),
    'no visible <h1> "Sign in"',
  );
  check(
    await page.getByText(displayName, { exact: true }).isVisible(),
    `the pool's display name ${JSON.stringify(displayName)} is not visible`,
  );
  // getByLabel finds an input only through a <label> bound to it, so this
  // is also the accessibility check.
  const emailField = page.getByLabel('Email', { exact: true });
  const passwordField = page.getByLabel('Password', { exact: true });
  check((await emailField.count()) === 1, 'no single input labelled "Email"');
  check((await passwordField.count()) === 1, 'no single input labelled "Password"');
  check((await emailField.getAttribute('type')) === 'email', 'the Email input is not type=email');
  check((await passwordField.getAttribute('type')) === 'password', 'the Password input is not type=password');
  check(await emailField.isEditable(), 'the Email input is not editable');
  if (js) {
    // autofocus applies once the document has loaded; give it a moment.
    const focused = await page
      .waitForFunction(() => document.activeElement && document.activeElement.id === 'email', null, { timeout: 3000 })
      .then(() => true, () => false);
    const active = await page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.tagName));
    check(focused, `the Email input is not focused on load (focus is on ${JSON.stringify(active)})`);
  }
  return { emailField, passwordField };
}

async function expectUpstream(page) {
  await page.waitForURL((u) => u.pathname === '/private/page' && u.search === '?x=1', { timeout: 15000 }).catch(() => {});
  const { path: p, search } = where(page);
  check(p + search === privatePath, `after sign-in the browser is on ${page.url()}, want ${base}${privatePath}`);
  const body = (await page.locator('body').innerText()).trim();
  check(
    body.includes(`X-Auth-Request-Email: ${email}`),
    `the upstream's page does not show X-Auth-Request-Email: ${email} (the header did not reach it?); it shows: ${JSON.stringify(body.slice(0, 500))}`,
  );
  return body;
}

async function sessionCookies(context) {
  return (await context.cookies(base)).filter((c) => c.name === sessionCookie || c.name.startsWith(`${sessionCookie}-`));
}

const browser = await launch(shots);

const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  // 1. The whole journey in a desktop window with JavaScript on.
  {
    const { context, page } = await openPage(browser, failure, 'desktop', { viewport: { width: 1280, height: 800 } });

    step('open a private page while signed out');
    const first = await page.goto(base + privatePath);
    check(first && first.ok(), `sign-in page answered ${first && first.status()}`);
    const { emailField, passwordField } = await expectSignInPage(page);
    const alert = page.locator('[role="alert"]');
    check((await alert.count()) === 1, 'no single role=alert region');
    check((await alert.innerText()).trim() === '', 'the alert region is not empty before any attempt');
    await shoot(page, 'signin-desktop');

    step('sign in with a wrong password');
    await emailField.fill(email);
    await passwordField.fill('not the password');
    const wrong = await submit(page);
    check(wrong.status() === 401, `a wrong password answered ${wrong.status()}, want 401 (page: ${page.url()})`);
    check(where(page).path === signInPath, `after a wrong password the browser is on ${page.url()}`);
    await page.getByRole('alert').filter({ hasText: wrongPasswordText }).waitFor({ state: 'visible', timeout: 5000 })
      .catch(() => {});
    const alertText = (await alert.innerText()).trim();
    check(alertText === wrongPasswordText, `the alert says ${JSON.stringify(alertText)}, want ${JSON.stringify(wrongPasswordText)}`);
    check(await alert.isVisible(), 'the alert region is not visible after a wrong password');
    const kept = await page.getByLabel('Email', { exact: true }).inputValue();
    check(kept === email, `the Email field holds ${JSON.stringify(kept)}, want the typed ${JSON.stringify(email)}`);
    const pw = await page.getByLabel('Password', { exact: true }).inputValue();
    check(pw === '', 'the Password field was not cleared after a wrong password');
    check(
      (await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')) === 'true',
      'the Password field is not marked aria-invalid after a wrong password',
    );
    const refocused = await page
      .waitForFunction(() => document.activeElement && document.activeElement.id === 'password', null, { timeout: 3000 })
      .then(() => true, () => false);
    check(refocused, 'after a wrong password the Password field is not focused for the retry');
    check(!(await page.content()).includes('not the password'), 'the page echoes the wrong password');
    check((await sessionCookies(context)).length === 0, 'a failed sign-in set a session cookie');
    await shoot(page, 'signin-error-desktop');

    step('sign in with the right password');
    await page.getByLabel('Password', { exact: true }).fill(password);
    const right = await submit(page);
    // The continue page (not a 303, which form-action 'self' would hold
    // to the origin), which moves on to the page first asked for.
    check(right.status() === 200, `the right password answered ${right.status()}, want 200 (the continue page)`);
    summary.upstreamBody = await expectUpstream(page);

    step('check the session cookie');
    const cookies = await sessionCookies(context);
    check(cookies.length >= 1, `no ${sessionCookie} cookie after sign-in (cookies: ${(await context.cookies()).map((c) => c.name).join(', ')})`);
    for (const c of cookies) {
      check(c.httpOnly, `${c.name} is not HttpOnly`);
      check(c.sameSite === 'Lax', `${c.name} is SameSite=${c.sameSite}, want Lax`);
      check(c.path === '/', `${c.name} has Path=${c.path}, want /`);
      check(!c.secure, `${c.name} is Secure on plain http, so a browser would never send it back`);
    }
    const docCookie = await page.evaluate(() => document.cookie);
    check(!docCookie.includes(sessionCookie), 'the session cookie is readable from page scripts');
    summary.sessionCookie = cookies.map(({ name, httpOnly, sameSite, secure, path: p, expires }) => ({ name, httpOnly, sameSite, secure, path: p, expires }));

    step('sign out');
    const out = await page.goto(base + '/_gatehouse/logout');
    check(out && out.ok(), `logout ended on status ${out && out.status()}`);
    check(where(page).path === signInPath, `after logout the browser is on ${page.url()}, want the sign-in page`);
    check((await sessionCookies(context)).length === 0, 'the session cookie is still in the browser after logout');

    step('open the private page after signing out');
    await page.goto(base + privatePath);
    await expectSignInPage(page);
    await context.close();
  }

  // 2. A phone-sized window: the page must fit without sideways scrolling.
  {
    const { context, page } = await openPage(browser, failure, 'mobile', {
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });

    step('open the sign-in page on a 390x844 phone');
    await page.goto(base + privatePath);
    const { emailField, passwordField } = await expectSignInPage(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page is ${overflow}px wider than the 390px viewport`);
    const button = await page.getByRole('button', { name: 'Sign in' }).boundingBox();
    check(button && button.height >= 40, `the Sign in button is ${button && button.height}px tall, too small to tap`);
    await shoot(page, 'signin-mobile');

    step('a wrong password on a phone');
    await emailField.fill(email);
    await passwordField.fill('not the password');
    await submit(page);
    const alertText = (await page.locator('[role="alert"]').innerText()).trim();
    check(alertText === wrongPasswordText, `the alert says ${JSON.stringify(alertText)}`);
    await shoot(page, 'signin-error-mobile');
    await context.close();
  }

  // 3. Dark mode, for the screenshot: the error state is the busiest page.
  {
    const { context, page } = await openPage(browser, failure, 'dark', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    step('the error state in dark mode');
    await page.goto(base + privatePath);
    const { emailField, passwordField } = await expectSignInPage(page);
    await emailField.fill(email);
    await passwordField.fill('not the password');
    await submit(page);
    check(await page.getByRole('alert').isVisible(), 'no visible alert in dark mode');
    await shoot(page, 'signin-error-dark');
    await context.close();
  }

  // 4. JavaScript off: the pages have no scripts, so nothing may change.
  {
    const { context, page } = await openPage(browser, failure, 'nojs', { javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });

    step('sign in with JavaScript disabled');
    await page.goto(base + privatePath);
    const { emailField, passwordField } = await expectSignInPage(page, { js: false });
    await emailField.fill(email);
    await passwordField.fill(password);
    const resp = await submit(page);
    check(resp.status() === 200, `sign-in without JavaScript answered ${resp.status()}, want 200 (the continue page: a meta refresh, no script)`);
    await expectUpstream(page);
    const cookies = await sessionCookies(context);
    check(cookies.length >= 1 && cookies.every((c) => c.httpOnly && c.sameSite === 'Lax'), 'no HttpOnly SameSite=Lax session cookie without JavaScript');
    await context.close();
  }

  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
