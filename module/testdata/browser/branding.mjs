// A pool's branding as a person's browser shows it: the brand colour is the
// sign-in button's, in light and in dark; the logo loads under the pages'
// Content-Security-Policy with no violation; the footer links are there; a
// client's flow shows the client's colour; and the operator's SVG, opened
// on its own, runs no script. Run by module/browser_branding_test.go
// (TestBrowserBranding); by hand:
//
//	node module/testdata/browser/branding.mjs <base-url> <client-signin-path> <screenshot-dir> <light-rgb> <dark-rgb> <client-rgb>
//
// Colours are as getComputedStyle gives them: "rgb(0, 170, 85)".
// It prints one JSON summary line on stdout and exits 0, or says what
// failed on stderr and exits 1.

import { check, consoleNotes, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, clientPath, shots, lightRGB, darkRGB, clientRGB] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !clientPath || !shots || !lightRGB || !darkRGB || !clientRGB) {
  console.error('usage: branding.mjs <base-url> <client-signin-path> <screenshot-dir> <light-rgb> <dark-rgb> <client-rgb>');
  process.exit(2);
}

const summary = { script: 'branding.mjs', base };
const browser = await launch(shots);

// looks reads what the sign-in page shows of its brand.
async function looks(page) {
  return page.evaluate(() => {
    const button = document.querySelector('form button[type=submit]');
    const logo = document.querySelector('img.brand-logo');
    const icon = document.querySelector('link[rel=icon]');
    return {
      button: button ? getComputedStyle(button).backgroundColor : null,
      logo: logo ? { src: logo.getAttribute('src'), complete: logo.complete, width: logo.naturalWidth } : null,
      icon: icon ? icon.getAttribute('href') : null,
      links: [...document.querySelectorAll('.brand-footer a')].map((a) => `${a.textContent} ${a.getAttribute('href')}`),
    };
  });
}

await run(browser, summary, async (failure) => {
  for (const [scheme, want] of [['light', lightRGB], ['dark', darkRGB]]) {
    step(`sign-in page in ${scheme}`);
    const { context, page } = await openPage(browser, failure, `signin-${scheme}`, { colorScheme: scheme });
    const resp = await page.goto(`${base}/_gatehouse/signin`, { waitUntil: 'load' });
    check(resp.status() === 200, `sign-in page answered ${resp.status()}`);
    check(
      /style-src 'self'/.test(resp.headers()['content-security-policy'] || ''),
      `the page's policy changed: ${resp.headers()['content-security-policy']}`,
    );
    const got = await looks(page);
    summary[scheme] = got;
    check(got.button === want, `the sign-in button is ${got.button}, want the brand's ${want}`);
    check(got.logo && got.logo.src.startsWith('/_gatehouse/brand/'), `no logo served by Gatehouse: ${JSON.stringify(got.logo)}`);
    check(got.logo.complete && got.logo.width > 0, `the logo did not load: ${JSON.stringify(got.logo)}`);
    check(got.icon && got.icon.startsWith('/_gatehouse/brand/'), `favicon ${got.icon}`);
    check(got.links.some((l) => l.startsWith('Terms of use https://')), `footer links: ${got.links}`);
    await shoot(page, `branding-${scheme}`);
    await context.close();
  }

  step("a client's sign-in");
  {
    const { context, page } = await openPage(browser, failure, 'signin-client');
    await page.goto(`${base}${clientPath}`, { waitUntil: 'load' });
    const got = await looks(page);
    summary.client = got;
    check(got.button === clientRGB, `the client's sign-in button is ${got.button}, want ${clientRGB}`);
    check(got.logo && got.logo.complete && got.logo.width > 0, `the client's logo did not load: ${JSON.stringify(got.logo)}`);
    check(got.logo.src !== summary.light.logo.src, "the client's page shows the pool's logo");
    await shoot(page, 'branding-client');
    await context.close();
  }

  step('no page logged a policy violation or an error');
  const errors = pageErrors();
  check(errors.length === 0, `the pages complained: ${JSON.stringify(errors)}`);

  step("the logo opened on its own runs no script");
  {
    const { context, page } = await openPage(browser, failure, 'svg-alone');
    const resp = await page.goto(`${base}${summary.light.logo.src}`, { waitUntil: 'load' });
    check(resp.status() === 200, `logo answered ${resp.status()}`);
    check(/sandbox/.test(resp.headers()['content-security-policy'] || ''), 'the logo has no sandbox policy');
    const title = await page.title();
    check(title !== 'pwned', "the SVG's script ran in the pages' origin");
    // Chromium says so when the sandbox blocks it: proof there was a
    // script to block.
    summary.svgNotes = consoleNotes.filter((n) => n.page === 'svg-alone').map((n) => n.text);
    check(summary.svgNotes.some((t) => /Blocked script execution/.test(t)), `no blocked script reported: ${summary.svgNotes}`);
    await context.close();
  }
});
