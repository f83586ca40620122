// Drives Debian's Chromium through a sign-in at an outside provider the way
// a person would: open a private page, click the provider's button on the
// hosted sign-in page, sign in on the provider's own page, arrive where
// they started. Then the same with a provider that answers with a
// cross-site POST (response_mode=form_post, as Apple does), which reaches
// the callback without the SameSite=Lax flow cookie and goes through the
// relay page; and once more with JavaScript off, where the relay page's
// Continue button does what its script would. Run by
// module/browser_federation_test.go (TestBrowserFederation):
//
//	node module/testdata/browser/federation.mjs <base-url> <provider-issuer> <screenshot-dir>
//
// The provider is module/testdata/oidc-provider/federation.mjs; its
// accounts grace@navy.example and posty@navy.example sign in with
// "correct horse".

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, argIssuer, shots] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
const issuer = (argIssuer || '').replace(/\/+$/, '');
if (!base || !issuer || !shots) {
  console.error('usage: federation.mjs <base-url> <provider-issuer> <screenshot-dir>');
  process.exit(2);
}

// signInAtProvider fills in the provider's own sign-in page.
async function signInAtProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(issuer + '/'));
  await page.locator('#login').fill(login);
  await page.locator('#password').fill('correct horse');
  await shoot(page, `provider-${Date.now()}`);
  await page.locator('#submit').click();
}

// expectUpstream checks that the browser ended on path, served by the upstream.
async function expectUpstream(page, path, login) {
  await page.waitForURL(base + path);
  check(page.url() === base + path, `browser is on ${page.url()}, want ${base + path}`);
  const text = await page.locator('body').innerText();
  check(text.includes('Hello from the upstream.'), `the upstream's page is not shown: ${text}`);
  check(text.includes(`X-Auth-Request-Email: ${login}`), `the upstream was not told who signed in: ${text}`);
  return text;
}

const browser = await launch(shots);
const summary = { ok: false, base, issuer, browser: browser.version() };
await run(browser, summary, async (failure) => {
  {
    const { context, page } = await openPage(browser, failure, 'query');
    step('open a private page and land on sign-in');
    await page.goto(base + '/private/page?x=1');
    check(new URL(page.url()).pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
    const button = page.getByRole('link', { name: 'Continue with Corp SSO' });
    check(await button.isVisible(), 'no visible "Continue with Corp SSO" button');
    await shoot(page, 'signin-buttons');

    step('click the button and sign in at the provider');
    await button.click();
    await signInAtProvider(page, 'grace@navy.example');

    step('back at the page first asked for');
    summary.query = await expectUpstream(page, '/private/page?x=1', 'grace@navy.example');
    await context.close();
  }
  {
    const { context, page } = await openPage(browser, failure, 'form_post');
    step('a form_post provider: button, provider, relay page');
    const posts = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/_gatehouse/oauth2/idpresponse') {
        posts.push({ referer: r.headers().referer || '' });
      }
    });
    await page.goto(base + '/private/posted');
    await page.getByRole('link', { name: 'Continue with Corp (form post)' }).click();
    await signInAtProvider(page, 'posty@navy.example');
    summary.formPost = await expectUpstream(page, '/private/posted', 'posty@navy.example');
    check(posts.length === 2, `want the provider's cross-site POST and the relay page's same-site POST, saw ${posts.length}`);
    await context.close();
  }
  {
    const { context, page } = await openPage(browser, failure, 'form_post-nojs', { javaScriptEnabled: false });
    step('form_post without JavaScript: the Continue buttons');
    await page.goto(base + '/_gatehouse/federate/corppost?rd=%2Fprivate%2Fnojs');
    await page.waitForURL((u) => u.href.startsWith(issuer + '/'));
    await page.locator('#login').fill('posty@navy.example');
    await page.locator('#password').fill('correct horse');
    await page.locator('#submit').click();
    // oidc-provider's own form_post page submits by script; without one it
    // shows its own button.
    await page.waitForLoadState('load');
    if (page.url().startsWith(issuer)) {
      await page.locator('form button, form input[type=submit]').first().click();
    }
    await page.waitForURL((u) => u.pathname === '/_gatehouse/oauth2/idpresponse');
    check(await page.locator('#relay-continue').isVisible(), 'the relay page shows no Continue button');
    await shoot(page, 'relay-nojs');
    await page.locator('#relay-continue').click();
    await page.waitForURL((u) => u.pathname !== '/_gatehouse/oauth2/idpresponse');
    if (new URL(page.url()).pathname !== '/private/nojs') {
      // The continue page moves on with a meta refresh, which runs without scripts.
      await page.waitForURL(base + '/private/nojs');
    }
    await expectUpstream(page, '/private/nojs', 'posty@navy.example');
    await context.close();
  }

  step('check the browser console');
  const bad = pageErrors().filter((n) => !n.page.startsWith('form_post') || !n.text.includes(issuer));
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
