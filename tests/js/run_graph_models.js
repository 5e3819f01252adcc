#!/usr/bin/env node
// Runs an `export.tfjs` export in Node with pure-JS TensorFlow.js (cpu backend).
//
//   node tests/js/run_graph_models.js MODEL_DIR INPUT_JSON OUTPUT_JSON
//
// MODEL_DIR holds export.json, predict/ and transfer/ (and transfer_tuned/), as `python -m
// export.tfjs` writes. INPUT_JSON: {"style": T, "content": T, "style_vector": T (optional),
// "tuned": {"style_vector": T, "norm_offsets": T} (optional), "timing_runs": N (optional)}
// where T = {"data": [flat float32 values, row-major], "shape": [...]}.
// OUTPUT_JSON gets {"tfjs", "backend", "load_ms", "predict": {inputs, outputs},
// "transfer": {inputs, outputs}, "style_vector": T (predict_style(style)),
// "stylized": T (transfer(content, that vector)), "stylized_given_vector": T (transfer(content,
// the given style_vector), only when one is given), "transfer_tuned": {inputs, outputs} and
// "stylized_tuned": T (transfer_tuned(content, tuned.style_vector, tuned.norm_offsets)) when
// "tuned" is given and the export has transfer_tuned, "timing": {"predict_ms", "transfer_ms": median of N runs after one
// warm-up; only when timing_runs > 0}}.
//
// An export with "layout": "magenta" (`--layout magenta`) is run as code written for
// Magenta's published graphs runs it: `predict.predict(style)` and `transfer.predict([content,
// vector])` give style_vector and stylized; stylized_given_vector comes from
// `transfer.execute({Placeholder, Placeholder_1}, 'transformer/expand/conv3/conv/Sigmoid')`;
// "by_node_name" holds style_vector and stylized computed by node name from the same graphs
// loaded without their signatures (as code predating graph-model signatures sees them).
// Vectors keep the layout's [B,1,1,100] shape.
//
// @tensorflow/tfjs comes from export/web/node_modules (`npm ci --prefix export/web`), else
// from NODE_PATH. The models are read from disk with a custom IOHandler (no fetch).
'use strict';

const fs = require('fs');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..');

function loadTf() {
  const candidates = [path.join(repoRoot, 'export', 'web', 'node_modules', '@tensorflow', 'tfjs'),
    '@tensorflow/tfjs'];
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (error) {
      if (error.code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  throw new Error('@tensorflow/tfjs not found: run `npm ci --prefix export/web` in the repository');
}

const tf = loadTf();

// An IOHandler that reads a graph model's model.json and weight shards from a directory.
// Without `signature` when dropSignature is set.
function fileHandler(dir, dropSignature = false) {
  return {
    load: async () => {
      const modelJSON = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      if (dropSignature) delete modelJSON.signature;
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        const buffers = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const shard of group.paths) {
            const bytes = fs.readFileSync(path.join(dir, shard));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

function toTensor(value, name) {
  if (!value || !Array.isArray(value.data) || !Array.isArray(value.shape)) {
    throw new Error(`input ${name} must be {"data": [...], "shape": [...]}`);
  }
  return tf.tensor(value.data, value.shape, 'float32');
}

async function fromTensor(tensor) {
  return {data: Array.from(await tensor.data()), shape: tensor.shape};
}

function signature(model) {
  return {inputs: model.inputs.map((i) => i.name), outputs: model.outputs.map((o) => o.name)};
}

async function medianMs(run, runs) {
  (await run()).dispose(); // warm-up
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const result = await run();
    await result.data();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    result.dispose();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const MAGENTA = {style: 'Placeholder', content: 'Placeholder', vector: 'Placeholder_1',
  predictOutput: 'mobilenet_conv/Conv/BiasAdd',
  transferOutput: 'transformer/expand/conv3/conv/Sigmoid'};

// Runs a magenta-layout export (see the header); returns what goes into OUTPUT_JSON.
async function runMagenta(predict, transfer, dirOf, style, content, input) {
  const vector = predict.predict(style);
  const result = {style_vector: await fromTensor(vector),
    stylized: await fromTensor(transfer.predict([content, vector]))};
  if (input.style_vector) {
    const given = toTensor(input.style_vector, 'style_vector').reshape([-1, 1, 1, 100]);
    result.stylized_given_vector = await fromTensor(transfer.execute(
        {[MAGENTA.content]: content, [MAGENTA.vector]: given}, MAGENTA.transferOutput));
  }
  const bare = {predict: await tf.loadGraphModel(fileHandler(dirOf('predict'), true)),
    transfer: await tf.loadGraphModel(fileHandler(dirOf('transfer'), true))};
  const bareVector = bare.predict.execute({[MAGENTA.style]: style}, MAGENTA.predictOutput);
  result.by_node_name = {
    predict: signature(bare.predict), transfer: signature(bare.transfer),
    style_vector: await fromTensor(bareVector),
    stylized: await fromTensor(bare.transfer.execute(
        {[MAGENTA.content]: content, [MAGENTA.vector]: bareVector}, MAGENTA.transferOutput)),
  };
  return result;
}

async function main() {
  const [modelDir, inputPath, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: run_graph_models.js MODEL_DIR INPUT_JSON OUTPUT_JSON');
  await tf.setBackend('cpu');
  await tf.ready();
  const exported = JSON.parse(fs.readFileSync(path.join(modelDir, 'export.json'), 'utf8'));
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));

  const start = Date.now();
  const dirOf = (name) => path.dirname(path.join(modelDir, exported.models[name].path));
  const predict = await tf.loadGraphModel(fileHandler(dirOf('predict')));
  const transfer = await tf.loadGraphModel(fileHandler(dirOf('transfer')));
  const loadMs = Date.now() - start;

  const style = toTensor(input.style, 'style');
  const content = toTensor(input.content, 'content');
  if (exported.layout === 'magenta') {
    const result = await runMagenta(predict, transfer, dirOf, style, content, input);
    fs.writeFileSync(outputPath, JSON.stringify({tfjs: tf.version.tfjs, backend: tf.getBackend(),
      load_ms: loadMs, predict: signature(predict), transfer: signature(transfer), ...result}));
    return;
  }
  const vector = predict.execute({style}, 'style_vector');
  const stylized = transfer.execute({content, style_vector: vector}, 'stylized');
  const result = {
    tfjs: tf.version.tfjs, backend: tf.getBackend(), load_ms: loadMs,
    predict: signature(predict), transfer: signature(transfer),
    style_vector: await fromTensor(vector), stylized: await fromTensor(stylized),
  };
  if (input.style_vector) {
    const given = transfer.execute({content, style_vector: toTensor(input.style_vector, 'style_vector')});
    result.stylized_given_vector = await fromTensor(given);
  }
  if (input.tuned && exported.models.transfer_tuned) {
    const tuned = await tf.loadGraphModel(fileHandler(dirOf('transfer_tuned')));
    result.transfer_tuned = signature(tuned);
    result.stylized_tuned = await fromTensor(tuned.execute({content,
      style_vector: toTensor(input.tuned.style_vector, 'tuned.style_vector'),
      norm_offsets: toTensor(input.tuned.norm_offsets, 'tuned.norm_offsets')}, 'stylized'));
  }
  if (input.timing_runs > 0) {
    result.timing = {
      runs: input.timing_runs,
      predict_ms: await medianMs(() => predict.execute({style}), input.timing_runs),
      transfer_ms: await medianMs(() => transfer.execute({content, style_vector: vector}),
          input.timing_runs),
    };
  }
  fs.writeFileSync(outputPath, JSON.stringify(result));
}

main().catch((error) => {
  console.error(`error: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
