// Signs up, confirms (the code from the tests' mail server) and signs in
// with the keyboard alone: Tab, Shift+Tab, typing, Enter and Space, never
// the mouse nor a click. At every focus move it checks that focus is
// visible: the element matches :focus-visible, draws an outline at least
// 2px wide, and that outline has 3:1 contrast against the card in light
// and in dark (WCAG 2.4.7, 1.4.11). Run by module/browser_pages_test.go
// (TestBrowserKeyboard); by hand:
//
//	node module/testdata/browser/keyboard.mjs <base-url> <code-url> <email> <screenshot-dir>
//
// It prints one JSON summary line and exits 0, or says what failed and
// exits 1.

import { check, launch, openPage, pageErrors, run, step } from './harness.mjs';

const [argBase, codeURL, email, shots] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !codeURL || !email || !shots) {
  console.error('usage: keyboard.mjs <base-url> <code-url> <email> <screenshot-dir>');
  process.exit(2);
}
const password = 'a quiet walk in the hills';
const privatePath = '/private/page';
let moves = 0;

// focusState describes the focused element and how its focus shows, in
// the colour scheme the page has now.
function focusState(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { what: '(nothing)' };
    const rgb = (c) => (c.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const cs = getComputedStyle(el);
    const card = getComputedStyle(document.querySelector('.card') || document.body).backgroundColor;
    const [a, b] = [lum(rgb(cs.outlineColor)), lum(rgb(card))];
    return {
      what: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.innerText || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40)}"`,
      id: el.id,
      tag: el.tagName.toLowerCase(),
      visible: el.matches(':focus-visible'),
      outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`,
      width: cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth),
      contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    };
  });
}

// checkFocus fails unless focus is on an element and visibly so, in light
// and in dark.
async function checkFocus(page) {
  moves++;
  for (const scheme of ['dark', 'light']) {
    await page.emulateMedia({ colorScheme: scheme });
    const f = await focusState(page);
    check(f.what !== '(nothing)', 'focus is on nothing');
    check(f.visible, `${f.what} is focused but does not match :focus-visible`);
    check(f.width >= 2, `${f.what}'s focus outline is ${f.outline} (${scheme}), want at least 2px`);
    check(f.contrast >= 3, `${f.what}'s focus outline ${f.outline} has contrast ${f.contrast.toFixed(2)} against the card (${scheme}), want 3:1`);
  }
  return focusState(page);
}

// tabTo presses Tab (or Shift+Tab) until the focused element matches
// selector, checking focus at every stop; at most 15 presses.
async function tabTo(page, selector, key = 'Tab') {
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press(key);
    const f = await checkFocus(page);
    if (await page.evaluate((s) => document.activeElement.matches(s), selector)) return f;
  }
  check(false, `${key} never reached ${selector}`);
}

// press presses key on the focused element and waits for the page it
// loads.
async function press(page, key) {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press(key)]);
}

const browser = await launch(shots);
const summary = { ok: false, base, browser: browser.version() };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'keyboard', { reducedMotion: 'reduce' });

  step('the sign-in page: focus starts in the email field; Tab to "Create an account", Enter');
  await page.goto(`${base}${privatePath}`);
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `the private page led to ${page.url()}`);
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'email');
  await tabTo(page, 'a[href^="/_gatehouse/signup"]');
  await press(page, 'Enter');
  check(new URL(page.url()).pathname === '/_gatehouse/signup', `Enter on the link led to ${page.url()}`);

  step('sign up: Tab from field to field, typing; Shift+Tab back; Space on the button');
  await tabTo(page, '#f-email');
  await page.keyboard.type(email);
  await tabTo(page, '#f-password');
  await page.keyboard.type(password);
  await tabTo(page, '#f-name');
  await page.keyboard.type('Katherine Johnson');
  await tabTo(page, 'form.form button[type=submit]');
  await tabTo(page, '#f-name', 'Shift+Tab');
  await tabTo(page, 'form.form button[type=submit]');
  await press(page, 'Space');
  check(new URL(page.url()).pathname === '/_gatehouse/confirm', `signing up led to ${page.url()}`);

  step('confirm: the code from the mail, the password, Space on "Confirm"');
  const res = await fetch(`${codeURL}?email=${encodeURIComponent(email)}`);
  check(res.ok, `the test's code endpoint answered ${res.status}`);
  const code = (await res.text()).trim();
  await tabTo(page, '#f-code');
  await page.keyboard.type(code);
  await tabTo(page, '#f-password');
  await page.keyboard.type(password);
  await tabTo(page, 'button[value=confirm]');
  await press(page, 'Space');
  check(new URL(page.url()).pathname === '/_gatehouse/signin', `confirming led to ${page.url()}`);

  step('sign in: the email is filled; Tab to the password, type it, Enter');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'email');
  await tabTo(page, '#password');
  await page.keyboard.type(password);
  await Promise.all([page.waitForURL((u) => u.pathname === privatePath, { timeout: 15000 }), page.keyboard.press('Enter')]);
  const body = await page.locator('body').innerText();
  check(body.includes(`X-Auth-Request-Email: ${email}`), `the upstream does not show the user: ${JSON.stringify(body.slice(0, 200))}`);
  await context.close();

  summary.focusMoves = moves;
  step('check the browser console');
  const bad = pageErrors();
  check(bad.length === 0, `the pages logged errors: ${JSON.stringify(bad)}`);
});
