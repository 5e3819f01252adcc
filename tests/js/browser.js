// Shared by the demo's end-to-end scripts: Playwright (export/web/node_modules) launching
// Debian's headless Chromium ($CHROMIUM, default /usr/bin/chromium; never a download).
'use strict';

const fs = require('fs');
const path = require('path');

const WEB_DIR = path.resolve(__dirname, '../../export/web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS || 120000);

function fail(message) {
  console.error(`${path.basename(process.argv[1], '.js')}: ${message}`);
  process.exit(1);
}

// {browser, page, log, timeout}: a 1000x900 page whose console lines and errors go to log.
async function launch(extraArgs = []) {
  if (!fs.existsSync(CHROMIUM)) {
    fail(`${CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium)`);
  }
  let playwright;
  try {
    playwright = require(require.resolve('playwright-core', {paths: [WEB_DIR]}));
  } catch (error) {
    fail(`playwright-core is not in ${WEB_DIR}/node_modules; run: npm ci --prefix export/web`);
  }
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           ...extraArgs],
  });
  const log = [];
  const page = await browser.newPage({viewport: {width: 1000, height: 900}});
  page.on('console', (msg) => log.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (error) => log.push(`pageerror: ${error.message}`));
  return {browser, page, log, timeout: TIMEOUT_MS};
}

// Waits until the demo's status is in `states`; throws on an error status unless allowed.
async function waitForStatus(page, states, {allowError = false} = {}) {
  await page.waitForFunction(
    (states) => [...states, 'error'].includes(document.getElementById('status').dataset.state),
    states, {timeout: TIMEOUT_MS});
  const status = await page.$eval('#status',
    (el) => ({state: el.dataset.state, text: el.textContent}));
  if (status.state === 'error' && !allowError) {
    throw new Error(`the demo reports: ${status.text}`);
  }
  return status;
}

module.exports = {fail, launch, waitForStatus, TIMEOUT_MS};
