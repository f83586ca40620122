// Signs in over HTTPS (Caddy's `tls internal`) on a site with
// cookie_host_prefix, in Chromium, which enforces the __Host- rules that Go's
// cookie jar does not: the sign-in page's answer carries HSTS, the CSRF and
// session cookies are __Host- cookies the browser keeps and sends back, the
// browser lands on the private page, and sign-out signs it out.
//
//	node https.mjs <https base> <email> <password> <screenshots dir>

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [base, email, password, shots] = process.argv.slice(2);
const privatePath = '/reports/q3';

const browser = await launch(shots);
const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  // The test's Caddy has its own local CA, which this browser does not know.
  const { context, page } = await openPage(browser, failure, 'https', { ignoreHTTPSErrors: true });

  step('open a private page while signed out');
  const first = await page.goto(base + privatePath);
  check(first && first.ok(), `sign-in page answered ${first && first.status()}`);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
  const hsts = await first.headerValue('strict-transport-security');
  check(hsts === 'max-age=31536000', `the sign-in page's Strict-Transport-Security is ${JSON.stringify(hsts)}`);
  let names = (await context.cookies()).map((c) => c.name);
  check(names.includes('__Host-gatehouse_csrf'), `the browser kept no __Host-gatehouse_csrf cookie (it has ${names.join(', ')})`);

  step('sign in');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const [post] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/_gatehouse/signin'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  check(post.status() === 200, `the sign-in answered ${post.status()}, want 200 (the continue page)`);
  await page.waitForURL(base + privatePath);
  const body = await page.locator('body').innerText();
  check(body.includes('upstream'), `the private page shows ${JSON.stringify(body.slice(0, 80))}, not the upstream`);
  await shoot(page, 'https-signed-in');

  step('check the cookies');
  const cookies = await context.cookies();
  names = cookies.map((c) => c.name);
  const session = cookies.find((c) => c.name === '__Host-gatehouse_session');
  check(session, `no __Host-gatehouse_session cookie (the browser has ${names.join(', ')})`);
  check(session.secure && session.path === '/' && session.httpOnly, `session cookie ${JSON.stringify(session)}`);
  check(!names.some((n) => n.startsWith('gatehouse_')), `an unprefixed cookie was set: ${names.join(', ')}`);
  summary.cookies = names;

  step('sign out');
  await page.goto(base + '/_gatehouse/logout');
  await page.goto(base + privatePath);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `after sign-out the browser is on ${page.url()}`);
  check(pageErrors().length === 0, `page errors: ${JSON.stringify(pageErrors())}`);
});
