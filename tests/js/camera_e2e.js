// End-to-end run of the demo's Camera source in headless Chromium with its fake camera.
//
//   node tests/js/camera_e2e.js URL CLIP.y4m OUT_DIR
//
// URL is the demo page with ?style1=...&camera-size=... parameters; CLIP.y4m is played as
// the camera. The script picks the Camera source, saves the input frame and the stylized
// result of two successive frames (OUT_DIR/{first,second}-{input,output}.png, read
// atomically after each frame) and a screenshot (OUT_DIR/page.png), takes a snapshot
// (OUT_DIR/snapshot.png, the page's download), hides the page and shows it again, switches
// back to File (both must release the camera), ends the track as an unplugged camera does,
// then fakes a denied and an absent camera.
// It prints JSON stats on stdout.
'use strict';

const fs = require('fs');
const path = require('path');
const {fail, launch, waitForStatus} = require('./browser');

// After frame number `after`, both canvases as PNG data URLs and the camera's stats (read
// in one go, so the input is the one behind the output).
function frameAfter(after) {
  const camera = window.demoCamera;
  if (camera.frames <= after) return false;
  const png = (id) => document.getElementById(id).toDataURL('image/png');
  return {frames: camera.frames, tensors: camera.tensors, fps: camera.fps,
          fps_text: document.getElementById('fps').value,
          status: document.getElementById('status').textContent,
          input: png('camera-frame'), output: png('result')};
}

function savePng(dataUrl, file) {
  fs.writeFileSync(file, Buffer.from(dataUrl.split(',')[1], 'base64'));
}

async function nextFrame(page, after, timeout) {
  const handle = await page.waitForFunction(frameAfter, after, {timeout, polling: 50});
  return handle.jsonValue();
}

// Whether `action` released the camera: its tracks ended and the loop stopped.
async function releases(page, action) {
  const stream = await page.evaluateHandle(() => window.demoCamera.stream);
  await action();
  const frames = await page.evaluate(() => window.demoCamera.frames);
  await page.waitForTimeout(3000);  // A frame in flight must not be shown, nor a new one run.
  return page.evaluate(([stream, frames]) => ({
    tracks_ended: stream.getTracks().every((track) => track.readyState === 'ended'),
    video_released: document.getElementById('camera-video').srcObject === null,
    loop_stopped: window.demoCamera.frames === frames,
  }), [stream, frames]);
}

// Makes the page hidden (or visible again), as switching tabs does.
function setHidden(page, hidden) {
  return page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

// The status shown when getUserMedia fails with a DOMException of `name`.
async function failingCamera(page, name) {
  await page.evaluate((name) => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('fake', name));
  }, name);
  await page.check('#source-camera');
  const status = await waitForStatus(page, ['error'], {allowError: true});
  await page.check('#source-file');
  return status.text;
}

// The camera ending by itself (unplugged): the loop stops with an error status.
async function unplugged(page, timeout) {
  await page.check('#source-camera');
  await nextFrame(page, 0, timeout);
  const result = await releases(page, () => page.evaluate(() => window.demoCamera.stream
    .getVideoTracks().forEach((track) => track.dispatchEvent(new Event('ended')))));
  const status = await page.$eval('#status', (el) => el.textContent);
  await page.check('#source-file');
  return {...result, status};
}

async function main() {
  const [url, clip, outDir] = process.argv.slice(2);
  if (!url || !clip || !outDir) fail('usage: node tests/js/camera_e2e.js URL CLIP.y4m OUT_DIR');
  const {browser, page, log, timeout} = await launch([
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-video-capture=${path.resolve(clip)}`]);
  try {
    await page.goto(url);
    const ready = await waitForStatus(page, ['ready']);
    await page.check('#source-camera');
    const started = Date.now();
    const warm = await nextFrame(page, 0, timeout);  // The first frame compiles the shaders.
    const first = await nextFrame(page, warm.frames, timeout);
    const second = await nextFrame(page, first.frames, timeout);
    const elapsed = (Date.now() - started) / 1000;
    await page.screenshot({path: path.join(outDir, 'page.png'), fullPage: true});
    const frames = {first, second};
    for (const [name, frame] of Object.entries(frames)) {
      savePng(frame.input, path.join(outDir, `${name}-input.png`));
      savePng(frame.output, path.join(outDir, `${name}-output.png`));
      delete frame.input;
      delete frame.output;
    }
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#snapshot')]);
    await download.saveAs(path.join(outDir, 'snapshot.png'));
    const hidden = await releases(page, () => setHidden(page, true));
    const hiddenStatus = await page.$eval('#status', (el) => el.textContent);
    await setHidden(page, false);
    const resumed = await nextFrame(page, 0, timeout);  // The camera restarts.
    const released = await releases(page, () => page.check('#source-file'));
    const ended = await unplugged(page, timeout);
    const denied = await failingCamera(page, 'NotAllowedError');
    const absent = await failingCamera(page, 'NotFoundError');
    console.log(JSON.stringify({
      ready: ready.text, warm_tensors: warm.tensors, ...frames, elapsed,
      snapshot_name: download.suggestedFilename(), hidden, hidden_status: hiddenStatus,
      resumed: resumed.status, released, unplugged: ended, denied, absent, console: log}));
  } catch (error) {
    console.error(log.join('\n'));
    throw error;
  } finally {
    await browser.close();
  }
}

main().catch((error) => fail(error.message));
