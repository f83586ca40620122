// SAML 2.0 sign-in in Chromium through a real IdP (samlify) on another site:
// its HTTP-POST binding is a cross-site POST, which carries no SameSite=Lax
// cookie, so Gatehouse's relay page re-posts it from its own origin. On a
// guarded site the browser ends on the private page first asked for; on
// the issuer site (Cognito's /saml2/idpresponse) on the account page. Run
// by module/browser_saml_test.go (TestBrowserSAML):
//
//	node saml.mjs <guarded site> <issuer> <idp base> <screenshot-dir>

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [app, issuer, idp, shots] = process.argv.slice(2);

// postsTo records the POSTs to path: the origin they came from and whether
// the browser sent a cookie with them.
function postsTo(page, path) {
  const posts = [];
  page.on('request', async (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === path) {
      const h = await r.allHeaders();
      posts.push({ origin: h.origin || '', cookie: h.cookie || '', hasResponse: r.postData().includes('SAMLResponse=') });
    }
  });
  return posts;
}

// checkPosts: the IdP's cross-site POST (null origin or the IdP's, no
// Gatehouse cookie), then the relay page's same-origin one.
function checkPosts(posts, self) {
  check(posts.length === 2, `want the IdP's POST and the relay page's, saw ${JSON.stringify(posts)}`);
  check(posts[0].origin !== self && posts[0].hasResponse, `the first POST came from ${posts[0].origin}, want the IdP`);
  check(!/gatehouse/.test(posts[0].cookie), `the cross-site POST carried Gatehouse's cookies: ${posts[0].cookie}`);
  check(posts[1].origin === self && posts[1].hasResponse, `the relay POST came from ${posts[1].origin}, want ${self}`);
}

// register gives the IdP the service provider's metadata as served by one
// site (its ACS is that site's), with the user the IdP signs in.
async function register(metadataURL, nameID, mail) {
  const metadata = await (await fetch(metadataURL)).text();
  const res = await fetch(idp + '/sp', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      metadata, mode: 'encrypted',
      user: { nameID, nameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes: { mail: [mail], displayName: [nameID] } },
    }),
  });
  check(res.status === 204, `registering ${metadataURL} at the IdP: ${res.status}`);
}

const browser = await launch(shots);
const summary = { ok: false, app, issuer, idp, browser: browser.version() };
await run(browser, summary, async (failure) => {
  {
    const { context, page } = await openPage(browser, failure, 'guarded');
    const posts = postsTo(page, '/_gatehouse/saml2/idpresponse');
    await register(app + '/_gatehouse/saml2/metadata/acme', 'ada-saml-1', 'ada@acme.example');
    step('guarded site: a private page leads to sign-in with the SAML button');
    await page.goto(app + '/private/saml?x=1');
    check(new URL(page.url()).pathname === '/_gatehouse/signin', `browser is on ${page.url()}, want the sign-in page`);
    const button = page.getByRole('link', { name: 'Continue with Acme SSO' });
    check(await button.isVisible(), 'no visible "Continue with Acme SSO" button');

    step('guarded site: the IdP posts back across sites, the relay page posts again, the private page shows');
    await button.click();
    await page.waitForURL(app + '/private/saml?x=1', { timeout: 15000 }).catch(() => {});
    check(page.url() === app + '/private/saml?x=1', `browser is on ${page.url()}, want the private page`);
    const text = await page.locator('body').innerText();
    check(text.includes('X-Auth-Request-Email: ada@acme.example'), `the upstream was not told who signed in: ${text}`);
    checkPosts(posts, app);
    await shoot(page, 'saml-guarded');

    step('guarded site: the sign-in holds on the next page');
    await page.goto(app + '/private/other');
    check((await page.locator('body').innerText()).includes('ada@acme.example'), `the next page is ${page.url()}`);
    await context.close();
  }
  {
    const { context, page } = await openPage(browser, failure, 'issuer');
    const posts = postsTo(page, '/saml2/idpresponse');
    await register(issuer + '/saml2/metadata/acme', 'grace-saml-1', 'grace@acme.example');
    step('issuer site: federate to the IdP, back through /saml2/idpresponse to the account page');
    await page.goto(issuer + '/_gatehouse/federate/acme?rd=%2F_gatehouse%2Faccount');
    await page.waitForURL(issuer + '/_gatehouse/account', { timeout: 15000 }).catch(() => {});
    check(page.url() === issuer + '/_gatehouse/account', `browser is on ${page.url()}, want the account page`);
    const facts = await page.locator('.facts').innerText();
    check(facts.includes('grace@acme.example'), `the account page shows ${facts}`);
    checkPosts(posts, issuer);
    await shoot(page, 'saml-issuer-account');
    await context.close();
  }

  step('no page error and no Content-Security-Policy report');
  const errors = pageErrors();
  check(errors.length === 0, `pages complained: ${JSON.stringify(errors)}`);
});
