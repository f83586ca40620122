// One Chromium for all the browser scripts of a Go test process: launched
// with harness.mjs's options, it prints "listening <ws endpoint>", which the
// tests hand to each script as GATEHOUSE_BROWSER_WS (harness.mjs launch()
// connects there). Launching Chromium is most of a short script's time.
// The browser is closed on SIGTERM, and when stdin closes, so that it
// never outlives a test process that died without stopping it.
//
//	node server.mjs

import { chromium } from 'playwright-core';
import { launchOptions } from './harness.mjs';

const server = await chromium.launchServer({ ...launchOptions(), handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  await server.close();
  process.exit(0);
}
process.on('SIGTERM', close);
process.stdin.on('end', close);
process.stdin.on('error', close);
process.stdin.resume();
console.log(`listening ${server.wsEndpoint()}`);
