// End-to-end run of the browser demo (export/web/) in headless Chromium.
//
//   node tests/js/demo_e2e.js URL SCREENSHOT.png [RESULT.png [SELECT_ID=VALUE ...]]
//
// URL is the demo page with ?content=...&style1=... parameters. The script waits for the
// models, picks each SELECT_ID=VALUE option as a user does (e.g. style1-tuned=great-wave: a
// tuned style), presses Stylize twice (the second run checks that no tensors leak), saves a
// screenshot of the page (and the result canvas's own pixels as RESULT.png) and prints
// JSON stats of the result canvas on stdout. Playwright drives
// Debian's Chromium ($CHROMIUM, default /usr/bin/chromium); it never downloads a browser.
'use strict';

const fs = require('fs');
const {fail, launch, waitForStatus} = require('./browser');

// Statistics of the result canvas, computed in the page: RGB values in [0, 1].
function canvasStats() {
  const result = document.getElementById('result');
  const content = document.getElementById('content-img');
  const {width, height} = result;
  const pixels = (canvas) => canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const drawn = Object.assign(document.createElement('canvas'), {width, height});
  const ctx = drawn.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(content, 0, 0, width, height);
  const out = pixels(result), ref = pixels(drawn);
  let sum = 0, sumSq = 0, diff = 0, n = 0;
  for (let i = 0; i < out.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const v = out[i + c] / 255;
      sum += v; sumSq += v * v; diff += Math.abs(v - ref[i + c] / 255); n++;
    }
  }
  const mean = sum / n;
  return {
    width, height, content_width: content.naturalWidth, content_height: content.naturalHeight,
    mean, std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)), mean_abs_diff: diff / n,
    backend: tf.getBackend(), download: document.getElementById('download').href,
  };
}

async function stylize(page) {
  await page.click('#stylize');
  const status = await waitForStatus(page, ['done', 'error']);
  return {status: status.text, tensors: await page.evaluate(() => tf.memory().numTensors)};
}

async function main() {
  const [url, screenshot, resultPng, ...choices] = process.argv.slice(2);
  if (!url || !screenshot) fail('usage: node tests/js/demo_e2e.js URL SCREENSHOT.png [RESULT.png]');
  const {browser, page, log} = await launch();
  try {
    await page.goto(url);
    const ready = await waitForStatus(page, ['ready', 'error']);
    for (const choice of choices) {
      const [id, value] = choice.split('=');
      await page.selectOption(`#${id}`, value);
    }
    const first = await stylize(page);
    const second = await stylize(page);
    const stats = await page.evaluate(canvasStats);
    await page.screenshot({path: screenshot, fullPage: true});
    if (resultPng) {
      const dataUrl = await page.$eval('#result', (canvas) => canvas.toDataURL('image/png'));
      fs.writeFileSync(resultPng, Buffer.from(dataUrl.split(',')[1], 'base64'));
    }
    console.log(JSON.stringify({...stats, ready: ready.text, first, second, console: log}));
  } catch (error) {
    console.error(log.join('\n'));
    throw error;
  } finally {
    await browser.close();
  }
}

main().catch((error) => fail(error.message));
