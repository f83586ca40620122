// What the browser scripts share: launching Debian's Chromium (never a
// browser of playwright's own), named steps and checks, screenshots, the
// page errors and Content-Security-Policy reports each page logs, and the
// one JSON summary line a script ends with.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const steps = [];
export const screenshots = [];
export const consoleNotes = [];
let current = 'starting';
let shotsDir = '.';

export class AssertionError extends Error {}

// check fails the current step with message unless cond holds.
export function check(cond, message) {
  if (!cond) throw new AssertionError(`${current}: ${message}`);
}

// step names what the script does next, for the summary and for failures.
export function step(name) {
  current = name;
  steps.push(name);
}

export async function shoot(page, name) {
  const file = path.join(shotsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

// watch records what the page itself complains about. A Content-Security-
// Policy report or an uncaught error means the page is broken even if it
// looks fine.
export function watch(page, label) {
  page.on('pageerror', (err) => consoleNotes.push({ page: label, type: 'pageerror', text: String(err) }));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      consoleNotes.push({ page: label, type: msg.type(), text: msg.text() });
    }
  });
}

// openPage opens a page in a context of its own (a light 1280x900 window
// unless options, Playwright's context options, say otherwise), watched
// (watch) under label and named as the page a failure report shows.
export async function openPage(browser, failure, label, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', ...options });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  failure.page = page;
  watch(page, label);
  return { context, page };
}

// virtualAuthenticator gives the context Chromium's virtual platform
// authenticator (DevTools protocol, WebAuthn domain): it keeps resident
// keys, verifies the user and answers without a touch.
export async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

function lower(headers) {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function header(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key ? headers[key] : '';
}

// postData is a DevTools request's body: in postData, or (a body sent as a
// stream, as Amplify's are) only in postDataEntries.
function postData(request) {
  if (request.postData) return request.postData;
  return (request.postDataEntries || []).map((e) => Buffer.from(e.bytes || '', 'base64').toString()).join('');
}

// networkLog records, through the DevTools protocol, every request the
// page makes to origin, CORS preflights included (Playwright's own request
// events leave those out): method, URL, the headers the browser really
// sent (cookies included), the answer's status and headers, or why it
// failed. It returns the live list.
export async function networkLog(context, page, origin) {
  const cdp = await context.newCDPSession(page);
  const byId = new Map();
  const log = [];
  const entry = (id) => {
    let e = byId.get(id);
    if (!e) {
      e = { id, sent: {} };
      byId.set(id, e);
    }
    return e;
  };
  cdp.on('Network.requestWillBeSent', ({ requestId, request, type, redirectResponse }) => {
    if (redirectResponse && byId.has(requestId)) {
      // A redirect: the hop before ends here, the next is a new entry.
      const prev = byId.get(requestId);
      prev.status = redirectResponse.status;
      prev.headers = lower(redirectResponse.headers);
      byId.delete(requestId);
    }
    if (!request.url.startsWith(origin + '/')) return;
    const e = entry(requestId);
    Object.assign(e, { method: request.method, url: request.url, type, target: header(request.headers, 'x-amz-target'), body: postData(request) });
    log.push(e);
  });
  cdp.on('Network.requestWillBeSentExtraInfo', ({ requestId, headers }) => {
    entry(requestId).sent = lower(headers);
  });
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    const e = entry(requestId);
    e.status = response.status;
    e.headers = lower(response.headers);
  });
  cdp.on('Network.loadingFailed', ({ requestId, errorText, corsErrorStatus }) => {
    const e = entry(requestId);
    e.failed = corsErrorStatus ? `${errorText} (CORS ${corsErrorStatus.corsError})` : errorText;
  });
  await cdp.send('Network.enable');
  return log;
}

// pageErrors is what watch heard that fails a run.
export function pageErrors() {
  return consoleNotes.filter((n) => n.type === 'pageerror' || /Content Security Policy|Refused to/i.test(n.text));
}

// launchOptions are Playwright's launch options for Debian's Chromium
// (CHROMIUM, default /usr/bin/chromium) with the flags this machine needs;
// server.mjs launches the shared browser with the same ones.
export function launchOptions() {
  return {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  };
}

// launch returns the browser a script works in, screenshots going to
// shots. Under the Go tests GATEHOUSE_BROWSER_WS names the one Chromium
// the test process shares (server.mjs): the script connects to it, and
// each context it opens is its own, closed with it by run (a context
// shares no cookies, storage or HSTS state with another). Without it the
// script launches a Chromium of its own, as when run by hand.
export async function launch(shots) {
  shotsDir = shots;
  mkdirSync(shots, { recursive: true });
  const ws = process.env.GATEHOUSE_BROWSER_WS;
  if (ws) return chromium.connect(ws);
  return chromium.launch(launchOptions());
}

// run calls body(failure), then closes the browser (a shared one: only
// this script's contexts, and the connection), prints summary as one
// JSON line and exits 0 if body returned, or 1 after saying on stderr what
// failed, with a screenshot of failure.page if body set one.
export async function run(browser, summary, body) {
  const started = Date.now();
  const failure = { page: null };
  try {
    await body(failure);
    summary.ok = true;
  } catch (err) {
    summary.error = err instanceof AssertionError ? err.message : `${current}: ${err && err.stack ? err.stack : err}`;
    console.error(`FAIL ${summary.error}`);
    if (failure.page && !failure.page.isClosed()) {
      try {
        console.error(`  page: ${failure.page.url()}`);
        await shoot(failure.page, 'failure');
      } catch {
        // The screenshot is a courtesy; the failure above is what matters.
      }
    }
  } finally {
    await browser.close();
  }
  summary.steps = steps;
  summary.screenshots = screenshots;
  summary.console = consoleNotes;
  summary.ms = Date.now() - started;
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}
