// What the Cognito app scripts share: reading the test app's page (state,
// error) and checking the CORS traffic a networkLog recorded.

import { check } from './harness.mjs';

// state waits until the page's state is not one of the passing ones and
// returns it.
export async function state(page, passing = ['loading', 'signing in']) {
  await page.waitForFunction((p) => !p.includes(document.getElementById('state').textContent), passing, { timeout: 15000 });
  return page.locator('#state').textContent();
}

export async function waitState(page, want) {
  await page.waitForFunction((w) => document.getElementById('state').textContent === w, want, { timeout: 15000 }).catch(() => {});
  const got = await page.locator('#state').textContent();
  const error = await page.locator('#error').textContent();
  check(got === want, `the app says "${got}", want "${want}" (error: "${error}")`);
}

export async function waitError(page) {
  await page.waitForFunction(() => document.getElementById('error').textContent !== '', null, { timeout: 15000 }).catch(() => {});
  return page.locator('#error').textContent();
}

// settled waits up to five seconds for cond() (about the test's own
// records, not the page) to hold.
export async function settled(page, cond) {
  for (let i = 0; i < 50 && !cond(); i++) await page.waitForTimeout(100);
}

// the probe cookie the browser holds for the issuer, sent with any request
// made with credentials: none of the app's calls may carry it.
export async function holdCookie(context, issuer) {
  await context.addCookies([{ name: 'probe', value: 'must-not-be-sent', url: issuer, secure: true, sameSite: 'None' }]);
}

// checkCORS holds the recorded traffic to the issuer to what a cross-origin
// app needs and no more: each preflight answered 2xx, for any origin, never
// allowing credentials; every call answered for any origin, with no cookie
// sent; a preflight (unless preflight is false: a form POST needs none) and
// one call of each wanted X-Amz-Target or path. ignore leaves calls out.
export function checkCORS(log, wanted, { ignore = () => false, preflight = true } = {}) {
  const preflights = log.filter((e) => e.method === 'OPTIONS' || e.type === 'Preflight');
  // The app's calls: not the navigations to the issuer's pages, nor what
  // those pages fetch from their own origin.
  const calls = log.filter((e) => !preflights.includes(e) && !ignore(e) && (e.type === 'Fetch' || e.type === 'XHR') &&
    e.sent['sec-fetch-site'] !== 'same-origin');
  check(!preflight || preflights.length > 0, `no CORS preflight seen: ${JSON.stringify(log.map((e) => `${e.method} ${e.url}`))}`);
  for (const p of preflights) {
    check(p.status >= 200 && p.status < 300, `preflight ${p.url} answered ${p.status} ${p.failed || ''}`);
    check(!p.failed, `preflight ${p.url} failed: ${p.failed}`);
    check(p.headers['access-control-allow-origin'] === '*', `preflight allows origin ${p.headers['access-control-allow-origin']}`);
    check(p.headers['access-control-allow-credentials'] !== 'true', `preflight ${p.url} allows credentials`);
  }
  for (const c of calls) {
    check(!c.failed, `${c.method} ${c.url} ${c.target} failed in the browser: ${c.failed}`);
    check(!('cookie' in c.sent), `${c.method} ${c.url} ${c.target} sent a cookie: ${c.sent.cookie}`);
    check(c.headers && c.headers['access-control-allow-origin'] === '*', `${c.url} ${c.target} allows origin ${c.headers && c.headers['access-control-allow-origin']}`);
    check(c.headers['access-control-allow-credentials'] !== 'true', `${c.url} ${c.target} allows credentials`);
  }
  for (const w of wanted) {
    check(calls.some((c) => c.target.endsWith('.' + w) || new URL(c.url).pathname === w), `no call of ${w}: ${JSON.stringify(calls.map((c) => c.target || c.url))}`);
  }
  return { preflights: preflights.length, calls: calls.length };
}
