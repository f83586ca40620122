// Drives Debian's Chromium through the hosted pages' language picker by
// keyboard alone: a German browser gets the German sign-in page, tabs to
// the picker, chooses French with the arrow keys, submits with Enter and
// lands on the same page in French, which it keeps on reload although the
// browser still asks for German. Then an Arabic browser gets the
// operator-added Arabic page, right to left. Run by module/browser_test.go
// (TestBrowserLanguagePicker); by hand:
//
//	node module/testdata/browser/language.mjs <base-url> <screenshot-dir>

import { check, launch, openPage, pageErrors, run, shoot, step } from './harness.mjs';

const [argBase, argShots] = process.argv.slice(2);
const base = (argBase || process.env.GATEHOUSE_BASE_URL || '').replace(/\/+$/, '');
const shots = argShots || process.env.GATEHOUSE_SHOTS || '';
if (!base || !shots) {
  console.error('usage: language.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}

const signInPath = '/_gatehouse/signin';

async function lang(page) {
  return page.evaluate(() => ({
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    h1: document.querySelector('h1')?.textContent,
  }));
}

const browser = await launch(shots);
const summary = { script: 'language' };
await run(browser, summary, async (failure) => {
  const { context, page } = await openPage(browser, failure, 'language', { locale: 'de-DE' });

  step('a German browser gets the German sign-in page');
  await page.goto(`${base}${signInPath}?rd=%2Freports`);
  let got = await lang(page);
  check(got.lang === 'de' && got.dir === 'ltr' && got.h1 === 'Anmelden', `page ${JSON.stringify(got)}, want German`);
  await shoot(page, 'language-de');

  step('tab to the picker');
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.id === 'language-select')) break;
  }
  check(await page.evaluate(() => document.activeElement?.id === 'language-select'), 'Tab never reached the language picker');
  const label = await page.evaluate(() => document.activeElement.labels?.[0]?.textContent);
  check(label === 'Sprache', `the picker's label is ${JSON.stringify(label)}, want "Sprache"`);

  step('choose Français with the arrow keys');
  await page.keyboard.press('Home');
  for (let i = 0; i < 10; i++) {
    if ((await page.inputValue('#language-select')) === 'fr') break;
    await page.keyboard.press('ArrowDown');
  }
  check((await page.inputValue('#language-select')) === 'fr', 'the arrow keys never reached Français');

  step('Tab to the button and press Enter');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.id === 'language-submit'), 'Tab from the picker does not reach its button');
  // The way back is the same address as before, so wait for the picker's
  // answer and then for the page it sends back to.
  const [picked] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/_gatehouse/language'),
    page.waitForNavigation({ waitUntil: 'load' }),
    page.keyboard.press('Enter'),
  ]);
  check(picked.status() === 303, `the picker answered ${picked.status()}, want 303`);
  const u = new URL(page.url());
  check(u.pathname === signInPath && u.searchParams.get('rd') === '/reports', `back on ${page.url()}, want the same sign-in page`);
  got = await lang(page);
  check(got.lang === 'fr' && got.h1 === 'Se connecter', `after the picker ${JSON.stringify(got)}, want French`);
  check((await page.inputValue('#language-select')) === 'fr', 'the picker does not show the chosen language');
  const cookies = await context.cookies(base);
  check(cookies.some((c) => c.name === 'lang' && c.value === 'fr' && c.httpOnly), `no HttpOnly lang=fr cookie: ${JSON.stringify(cookies)}`);
  await shoot(page, 'language-fr');

  step('the choice outlasts a reload, over Accept-Language');
  await page.reload();
  got = await lang(page);
  check(got.lang === 'fr', `after reload ${JSON.stringify(got)}`);

  step('an Arabic browser gets the added Arabic page, right to left');
  const ar = await openPage(browser, failure, 'language-ar', { locale: 'ar' });
  await ar.page.goto(`${base}${signInPath}`);
  got = await lang(ar.page);
  check(got.lang === 'ar' && got.dir === 'rtl', `Arabic page ${JSON.stringify(got)}`);
  const mirrored = await ar.page.evaluate(() => {
    const card = document.querySelector('.card').getBoundingClientRect();
    // The text's own box: the label element spans the card's width.
    const range = document.createRange();
    range.selectNodeContents(document.querySelector('label[for="password"]'));
    const label = range.getBoundingClientRect();
    return { cardRight: card.right, labelRight: label.right, labelLeft: label.left, cardLeft: card.left };
  });
  check(mirrored.cardRight - mirrored.labelRight < mirrored.labelLeft - mirrored.cardLeft,
    `the label sits at the left of a right-to-left card: ${JSON.stringify(mirrored)}`);
  await shoot(ar.page, 'language-ar');

  step('no page errors');
  const errs = pageErrors();
  check(errs.length === 0, `page errors: ${JSON.stringify(errs)}`);
});
