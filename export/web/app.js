// The browser demo: a style vector from each style image (predict model), blended and
// mixed with the content's own vector, conditions the transfer model on the content.
// A style may instead be a tuned style of the export's styles.json: its own vector and
// per-layer norm offsets, run through the transfer_tuned model (an image style's offsets are
// zeros; the blend weights the offsets as it weights the vectors, the strength scales them).
// URL parameters (all optional): ?content=URL&style1=URL&style2=URL (default images; @NAME
// picks the tuned style NAME),
// &blend=0..1&strength=0..1&size=256|512|1024&camera-size=128..384 (controls),
// &backend=webgl|cpu (TF.js picks WebGL when the browser has it, else its CPU backend).
// The Camera source stylizes the camera's frames in a loop (see startCamera).
'use strict';

// Style images are resized to style_size on the shorter side (the networks' training
// size). models/export.json, which `python -m export.tfjs` writes, overrides these.
const meta = {style_size: 256, min_content_side: 16};
const $ = (id) => document.getElementById(id);
const slots = ['content', 'style1', 'style2'];
let models = null;
// The export's tuned styles by name: {name, painting, painter, year, source, vector
// (Float32Array), offsets (Float32Array, or null: zeros)}; empty when it has none.
const tunedStyles = new Map();
// The live camera: its stream, the loop's token (a new one stops the old loop), the frame
// timestamps behind the FPS readout, and stats the e2e test reads (window.demoCamera).
const camera = {stream: null, token: 0, times: [], frames: 0, tensors: 0};
window.demoCamera = camera;
const FPS_WINDOW = 10;  // Frames averaged by the FPS readout.

function setStatus(state, text) {
  $('status').dataset.state = state;  // loading | ready | working | done | live | error
  $('status').textContent = text;
}

const isLoaded = (slot) => $(`${slot}-img`).dataset.loaded === 'yes';

const cameraOn = () => $('source-camera').checked;

// The tuned style chosen for a style slot (undefined: the slot's image).
const tunedOf = (slot) => tunedStyles.get($(`${slot}-tuned`).value);
const hasStyle = (slot) => Boolean(tunedOf(slot)) || isLoaded(slot);

function updateControls() {
  $('stylize').disabled = cameraOn() || !(models && isLoaded('content') && hasStyle('style1'));
  $('source-camera').disabled = !models;
  $('snapshot').disabled = !(cameraOn() && camera.frames > 0);
  $('blend').disabled = !hasStyle('style2');
  $('blend-value').value = Number($('blend').value).toFixed(2);
  $('strength-value').value = Number($('strength').value).toFixed(2);
}

function forget(img) {
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);  // a file picked earlier
  img.dataset.loaded = 'no';
}

// Shows an image URL in a slot; resolves once it is decoded.
function showImage(slot, url) {
  const img = $(`${slot}-img`);
  forget(img);
  updateControls();
  return new Promise((resolve, reject) => {
    img.onload = () => { img.dataset.loaded = 'yes'; updateControls(); resolve(img); };
    img.onerror = () => reject(new Error(`cannot load the ${slot} image ${url}`));
    img.crossOrigin = 'anonymous';  // keeps canvases readable (fromPixels) for CORS URLs
    img.src = url;
  });
}

function clearImage(slot) {
  const img = $(`${slot}-img`);
  forget(img);
  img.removeAttribute('src');
  $(`${slot}-file`).value = '';
  updateControls();
}

// An image's (video's, canvas's) [width, height], and those scaled by `scale` (>= 1 px).
const sides = (img) => [img.naturalWidth || img.videoWidth || img.width,
                        img.naturalHeight || img.videoHeight || img.height];
const scaled = (img, scale) => sides(img).map((n) => Math.max(1, Math.round(n * scale)));
const shortSideTo = (img, size) => scaled(img, size / Math.min(...sides(img)));
const longSideAtMost = (img, size) => scaled(img, Math.min(1, size / Math.max(...sides(img))));

// The image drawn at [w, h] (the browser's smoothed resampling) on `canvas` (default: new).
function drawAt(img, [w, h], canvas = document.createElement('canvas')) {
  Object.assign(canvas, {width: w, height: h});
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, 0, 0, w, h);
  return canvas;
}

// The image drawn at [w, h] as a [1,h,w,3] tensor in [0,1].
function toTensor(img, size) {
  return tf.tidy(() => tf.browser.fromPixels(drawAt(img, size)).toFloat().div(255).expandDims(0));
}

function styleVector(img) {
  return models.predict.execute({style: toTensor(img, shortSideTo(img, meta.style_size))});
}

// A style slot's {vector [1,100], offsets [1,M] or null (zeros)}: its tuned style's, or its
// image's predicted vector.
function slotStyle(slot) {
  const tuned = tunedOf(slot);
  if (!tuned) return {vector: styleVector($(`${slot}-img`)), offsets: null};
  return {vector: tf.tensor2d(tuned.vector, [1, tuned.vector.length]),
    offsets: tuned.offsets && tf.tensor2d(tuned.offsets, [1, tuned.offsets.length])};
}

const slotKey = (slot) => (tunedOf(slot) ? `@${tunedOf(slot).name}` : $(`${slot}-img`).src);

// The styles blended by `weight` (style 2's): vectors and offsets alike (an image style's
// offsets are zeros). Kept while the styles and weight stay.
const styleMix = {key: null, vector: null, offsets: null};
function blendedStyles(weight) {
  const key = [slotKey('style1'), weight > 0 ? slotKey('style2') : '', weight].join('\n');
  if (styleMix.key !== key) {
    tf.dispose([styleMix.vector, styleMix.offsets]);
    Object.assign(styleMix, tf.tidy(() => {
      const first = slotStyle('style1');
      if (!(weight > 0)) return first;
      const second = slotStyle('style2');
      const mix = (a, b) => a.mul(1 - weight).add(b.mul(weight));
      const orZeros = (offsets) => offsets || tf.zeros([1, (first.offsets || second.offsets).shape[1]]);
      return {vector: mix(first.vector, second.vector),
        offsets: first.offsets || second.offsets ? mix(orZeros(first.offsets), orZeros(second.offsets))
          : null};
    }), {key});
  }
  return styleMix;
}

// `content` stylized at `size` with the chosen styles, blend and strength (the strength mixes
// in the content's own vector and scales the offsets), drawn on the result canvas. Styles
// without offsets run the transfer model, others transfer_tuned.
async function stylizeOnto(content, size) {
  const weight = hasStyle('style2') ? Number($('blend').value) : 0;
  const strength = Number($('strength').value);
  const styles = blendedStyles(weight);
  const stylized = tf.tidy(() => {
    const vector = strength < 1
      ? styles.vector.mul(strength).add(styleVector(content).mul(1 - strength)) : styles.vector;
    const inputs = {content: toTensor(content, size), style_vector: vector};
    const result = styles.offsets
      ? models.transferTuned.execute({...inputs, norm_offsets: styles.offsets.mul(strength)})
      : models.transfer.execute(inputs);
    return result.squeeze([0]).clipByValue(0, 1);
  });
  try {
    await tf.browser.toPixels(stylized, $('result'));  // also sizes the canvas
  } finally {
    stylized.dispose();
  }
}

async function stylize() {
  const start = performance.now();
  const content = $('content-img');
  const size = longSideAtMost(content, Number($('size').value));
  if (Math.min(...size) < meta.min_content_side) {
    setStatus('error', `Error: the content must be at least ${meta.min_content_side} px a side`);
    return;
  }
  setStatus('working', `Working (${tf.getBackend()} backend, ${size.join('x')})…`);
  $('stylize').disabled = true;
  await tf.nextFrame();  // let the status text paint before the (blocking) work
  try {
    await stylizeOnto(content, size);
    await updateDownload();
    const seconds = ((performance.now() - start) / 1000).toFixed(2);
    setStatus('done', `Done in ${seconds} s (${tf.getBackend()} backend, ${size.join('x')}).`);
  } catch (error) {
    setStatus('error', `Error: ${error.message}`);
  } finally {
    updateControls();
  }
}

async function updateDownload() {
  const blob = await new Promise((resolve) => $('result').toBlob(resolve, 'image/png'));
  const link = $('download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.hidden = false;
}

// The camera's frames stylized one after another until the token changes (stopCamera).
// Each frame is drawn at the camera size into #camera-frame, then stylized from there: the
// canvas keeps the input of the result shown (the e2e test compares the two).
async function cameraLoop(token) {
  const video = $('camera-video');
  while (camera.token === token) {
    if (!hasStyle('style1') || !video.videoWidth) {
      setStatus('working', hasStyle('style1') ? 'Waiting for the camera…'
        : 'Pick a style image.');
      await tf.nextFrame();
      continue;
    }
    const size = longSideAtMost(video, Number($('camera-size').value));
    const frame = drawAt(video, size);
    await stylizeOnto(frame, size);
    if (camera.token !== token) return;
    drawAt(frame, size, $('camera-frame'));
    camera.times = [...camera.times, performance.now()].slice(-FPS_WINDOW - 1);
    camera.frames += 1;
    camera.tensors = tf.memory().numTensors;
    const [first, last] = [camera.times[0], camera.times[camera.times.length - 1]];
    const fps = (camera.times.length - 1) * 1000 / (last - first);
    camera.fps = Number.isFinite(fps) ? fps : 0;
    $('fps').value = camera.fps ? `${camera.fps.toFixed(2)} FPS` : '… FPS';
    setStatus('live', `Live (${tf.getBackend()} backend, ${size.join('x')}).`);
    updateControls();
    await tf.nextFrame();
  }
}

// The camera's own error as a sentence: denied, absent, busy, or the browser's message.
function cameraError(error) {
  const messages = {
    NotAllowedError: 'camera access was denied (allow it in the browser to use the camera)',
    SecurityError: 'camera access was denied (allow it in the browser to use the camera)',
    NotFoundError: 'no camera was found',
    OverconstrainedError: 'no camera was found',
    NotReadableError: 'the camera is in use by another program or cannot be read',
    NotSupportedError: 'this browser (or a page not served over HTTPS or from localhost) ' +
      'has no camera access',
  };
  return messages[error.name] || `cannot open the camera (${error.message})`;
}

async function startCamera() {
  stopCamera();
  const token = camera.token;
  Object.assign(camera, {times: [], frames: 0, fps: 0});
  document.body.classList.add('camera');
  $('fps').value = '';
  updateControls();
  setStatus('working', 'Opening the camera…');
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new DOMException('no navigator.mediaDevices', 'NotSupportedError');
    }
    const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
    if (camera.token !== token || !cameraOn()) {  // Switched away meanwhile.
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    camera.stream = stream;
    stream.getVideoTracks().forEach((track) => track.addEventListener('ended', () => {
      if (camera.token !== token) return;  // Stopped by us, not by the device.
      stopCamera();
      setStatus('error', 'Error: the camera stopped (unplugged or taken by another program)');
    }));
    $('camera-video').srcObject = stream;
    await $('camera-video').play();
  } catch (error) {
    if (camera.token !== token) return;
    stopCamera();
    setStatus('error', `Error: ${cameraError(error)}`);
    return;
  }
  cameraLoop(token).catch((error) => {
    if (camera.token !== token) return;
    stopCamera();
    setStatus('error', `Error: ${error.message}`);
  });
}

// Ends the loop and releases the camera (its light goes off).
function stopCamera() {
  camera.token += 1;
  if (camera.stream) camera.stream.getTracks().forEach((track) => track.stop());
  camera.stream = null;
  $('camera-video').srcObject = null;
}

function useFile() {
  stopCamera();
  document.body.classList.remove('camera');
  $('fps').value = '';
  updateControls();
  setStatus('ready', 'Ready: pick a content and a style image, then Stylize.');
}

async function snapshot() {
  await updateDownload();
  $('download').click();
}

// Float32 values of base64 little-endian float16s (styles.json's norm offsets).
function float16s(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const values = new Float32Array(bytes.length / 2);
  for (let i = 0; i < values.length; i++) {
    const half = view.getUint16(2 * i, true);
    const exponent = (half >> 10) & 0x1f, fraction = half & 0x3ff;
    const magnitude = exponent === 0 ? fraction * 2 ** -24
      : exponent === 31 ? (fraction ? NaN : Infinity)
        : (1 + fraction / 1024) * 2 ** (exponent - 15);
    values[i] = half & 0x8000 ? -magnitude : magnitude;
  }
  return values;
}

// Fills the style slots' selects with styles.json's tuned styles (shown only when any).
function addTunedStyles(list) {
  for (const style of list.styles) {
    tunedStyles.set(style.name, {...style, vector: Float32Array.from(style.vector),
      offsets: style.norm_offsets ? float16s(style.norm_offsets) : null});
  }
  const painter = (style) => (style.painter || '').replace(/\s*\(.*\)$/, '');
  for (const slot of ['style1', 'style2']) {
    const select = $(`${slot}-tuned`);
    for (const style of tunedStyles.values()) {
      const option = new Option(`${style.painting || style.name}${
        painter(style) ? ` (${painter(style)})` : ''}`, style.name);
      option.title = [style.painting, style.painter, style.year, style.source]
        .filter(Boolean).join('; ');
      select.add(option);
    }
    select.hidden = tunedStyles.size === 0;
  }
}

// Shows a slot's choice: its image, or the tuned style `name` ('' for the image).
function chooseTuned(slot, name) {
  if (name && !tunedStyles.has(name)) throw new Error(`no tuned style ${name} in styles.json`);
  $(`${slot}-tuned`).value = name;
  const style = tunedStyles.get(name);
  $(`${slot}-figure`).classList.toggle('tuned', Boolean(style));
  $(`${slot}-about`).textContent = style
    ? [style.painting, style.painter, style.year].filter(Boolean).join(', ') : '';
  $(`${slot}-about`).title = style ? style.source || '' : '';
  updateControls();
}

async function init() {
  const params = new URLSearchParams(location.search);
  const tunedParam = (slot) => (params.get(slot) || '').startsWith('@');
  for (const slot of slots) {
    $(`${slot}-file`).addEventListener('change', (event) => {
      const file = event.target.files[0];
      if (!file) return;
      showImage(slot, URL.createObjectURL(file))
        .catch((error) => { clearImage(slot); setStatus('error', `Error: ${error.message}`); });
    });
  }
  $('style2-clear').addEventListener('click', () => {
    clearImage('style2');
    chooseTuned('style2', '');
  });
  for (const slot of ['style1', 'style2']) {
    $(`${slot}-tuned`).addEventListener('change', (event) => chooseTuned(slot, event.target.value));
  }
  $('blend').addEventListener('input', updateControls);
  $('strength').addEventListener('input', updateControls);
  $('stylize').addEventListener('click', stylize);
  $('source-file').addEventListener('change', useFile);
  $('source-camera').addEventListener('change', startCamera);
  $('snapshot').addEventListener('click', snapshot);
  document.addEventListener('visibilitychange', () => {
    if (!cameraOn()) return;
    if (!document.hidden) return startCamera();
    stopCamera();
    setStatus('ready', 'Camera paused while the page is hidden.');
  });
  window.addEventListener('pagehide', stopCamera);
  for (const id of ['blend', 'strength', 'size', 'camera-size']) {
    if (params.has(id)) $(id).value = params.get(id);
  }
  updateControls();

  const defaults = slots.filter((slot) => params.get(slot) && !tunedParam(slot))
    .map((slot) => showImage(slot, params.get(slot)));
  defaults.forEach((loading) => loading.catch(() => {}));  // reported below, once
  setStatus('loading', 'Loading the models…');
  if (params.has('backend')) await tf.setBackend(params.get('backend'));
  await tf.ready();
  const info = await fetch('models/export.json').then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}));
  for (const key of Object.keys(meta)) meta[key] = info[key] || meta[key];
  // Tuned styles need both transfer_tuned and styles.json (exports before them have neither).
  const tuned = Boolean(info.models && info.models.transfer_tuned && info.styles);
  const names = ['predict', 'transfer', ...(tuned ? ['transfer_tuned'] : [])];
  const [predict, transfer, transferTuned] = await Promise.all(
    names.map((name) => tf.loadGraphModel(`models/${name}/model.json`)));
  models = {predict, transfer, transferTuned};
  if (tuned) {
    const response = await fetch(`models/${info.styles.path}`);
    if (!response.ok) throw new Error(`cannot load the tuned styles (HTTP ${response.status})`);
    addTunedStyles(await response.json());
  }
  for (const slot of ['style1', 'style2'].filter(tunedParam)) {
    chooseTuned(slot, params.get(slot).slice(1));
  }
  await Promise.all(defaults);
  updateControls();
  setStatus('ready', `Ready (${tf.getBackend()} backend): pick a content and a style image, ` +
            'then Stylize.');
}

init().catch((error) => setStatus('error', `Error: ${error.message}`));
