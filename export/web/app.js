// The browser demo: a style vector from each style image (predict model), blended and
// mixed with the content's own vector, conditions the transfer model on the content.
// URL parameters (all optional): ?content=URL&style1=URL&style2=URL (default images),
// &blend=0..1&strength=0..1&size=256|512|1024 (controls), &backend=webgl|cpu (TF.js picks
// WebGL when the browser has it, else its CPU backend).
'use strict';

// Style images are resized to style_size on the shorter side (the networks' training
// size). models/export.json, which `python -m export.tfjs` writes, overrides these.
const meta = {style_size: 256, min_content_side: 16};
const $ = (id) => document.getElementById(id);
const slots = ['content', 'style1', 'style2'];
let models = null;

function setStatus(state, text) {
  $('status').dataset.state = state;  // loading | ready | working | done | error
  $('status').textContent = text;
}

const isLoaded = (slot) => $(`${slot}-img`).dataset.loaded === 'yes';

function updateControls() {
  $('stylize').disabled = !(models && isLoaded('content') && isLoaded('style1'));
  $('blend').disabled = !isLoaded('style2');
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

// An image's [width, height], and those scaled by `scale` (at least 1 pixel each).
const sides = (img) => [img.naturalWidth, img.naturalHeight];
const scaled = (img, scale) => sides(img).map((n) => Math.max(1, Math.round(n * scale)));
const shortSideTo = (img, size) => scaled(img, size / Math.min(...sides(img)));
const longSideAtMost = (img, size) => scaled(img, Math.min(1, size / Math.max(...sides(img))));

// The image drawn at [w, h] (the browser's smoothed resampling) as a [1,h,w,3] tensor in [0,1].
function toTensor(img, [w, h]) {
  const canvas = Object.assign(document.createElement('canvas'), {width: w, height: h});
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, 0, 0, w, h);
  return tf.tidy(() => tf.browser.fromPixels(canvas).toFloat().div(255).expandDims(0));
}

function styleVector(img) {
  return models.predict.execute({style: toTensor(img, shortSideTo(img, meta.style_size))});
}

async function stylize() {
  const start = performance.now();
  const content = $('content-img');
  const size = longSideAtMost(content, Number($('size').value));
  if (Math.min(...size) < meta.min_content_side) {
    setStatus('error', `Error: the content must be at least ${meta.min_content_side} px a side`);
    return;
  }
  const weight = isLoaded('style2') ? Number($('blend').value) : 0;
  const strength = Number($('strength').value);
  setStatus('working', `Working (${tf.getBackend()} backend, ${size.join('x')})…`);
  $('stylize').disabled = true;
  await tf.nextFrame();  // let the status text paint before the (blocking) work
  try {
    const stylized = tf.tidy(() => {
      let vector = styleVector($('style1-img'));
      if (weight > 0) vector = vector.mul(1 - weight).add(styleVector($('style2-img')).mul(weight));
      if (strength < 1) vector = vector.mul(strength).add(styleVector(content).mul(1 - strength));
      const image = toTensor(content, size);
      return models.transfer.execute({content: image, style_vector: vector})
        .squeeze([0]).clipByValue(0, 1);
    });
    await tf.browser.toPixels(stylized, $('result'));  // also sizes the canvas
    stylized.dispose();
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

async function init() {
  const params = new URLSearchParams(location.search);
  for (const slot of slots) {
    $(`${slot}-file`).addEventListener('change', (event) => {
      const file = event.target.files[0];
      if (!file) return;
      showImage(slot, URL.createObjectURL(file))
        .catch((error) => { clearImage(slot); setStatus('error', `Error: ${error.message}`); });
    });
  }
  $('style2-clear').addEventListener('click', () => clearImage('style2'));
  $('blend').addEventListener('input', updateControls);
  $('strength').addEventListener('input', updateControls);
  $('stylize').addEventListener('click', stylize);
  for (const id of ['blend', 'strength', 'size']) {
    if (params.has(id)) $(id).value = params.get(id);
  }
  updateControls();

  const defaults = slots.filter((slot) => params.get(slot))
    .map((slot) => showImage(slot, params.get(slot)));
  defaults.forEach((loading) => loading.catch(() => {}));  // reported below, once
  setStatus('loading', 'Loading the models…');
  if (params.has('backend')) await tf.setBackend(params.get('backend'));
  await tf.ready();
  const [predict, transfer] = await Promise.all(
    ['predict', 'transfer'].map((name) => tf.loadGraphModel(`models/${name}/model.json`)));
  models = {predict, transfer};
  const info = await fetch('models/export.json').then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}));
  for (const key of Object.keys(meta)) meta[key] = info[key] || meta[key];
  await Promise.all(defaults);
  updateControls();
  setStatus('ready', `Ready (${tf.getBackend()} backend): pick a content and a style image, ` +
            'then Stylize.');
}

init().catch((error) => setStatus('error', `Error: ${error.message}`));
