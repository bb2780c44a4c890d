// Runs a TensorFlow.js graph or layers model with the pure-JavaScript CPU backend: the
// reference that foil's importer is checked against. For a layers model NODE is a layer name.
//
//   node reference.js MODEL.json INPUT.bin N,H,W,C DTYPE OUT.json NODE[,NODE...] [--time K]
//
// INPUT.bin holds N*H*W*C little-endian float32 values (NHWC, the model's own input scaling);
// DTYPE is float32 or int32 (values are then already integers). OUT.json receives
// {"outputs": {node: {"shape": [...], "data": [...]}}, "forward_ms": [...]}.
// Weights are read from the shards next to MODEL.json; nothing is downloaded.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');
const layers = require('@tensorflow/tfjs-layers');

function fileHandler(modelPath) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
      const dir = path.dirname(modelPath);
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

// A layer's output in `model`: a nested model's is its last call (the first is its own graph).
function layerOutput(model, name) {
  const layer = model.getLayer(name);
  const calls = layer.inboundNodes.length;
  return calls > 1 ? layer.getOutputAt(calls - 1) : layer.output;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 6) {
    console.error('usage: node reference.js MODEL.json INPUT.bin N,H,W,C DTYPE OUT.json NODES [--time K]');
    process.exit(2);
  }
  const [modelPath, inputPath, shapeText, dtype, outPath, nodesText] = args;
  const repeats = args[6] === '--time' ? parseInt(args[7], 10) : 0;
  await tf.setBackend('cpu');
  const keras = JSON.parse(fs.readFileSync(modelPath, 'utf8')).modelTopology.node === undefined;
  const model = keras
    ? await layers.loadLayersModel(fileHandler(modelPath))
    : await converter.loadGraphModel(fileHandler(modelPath));
  const shape = shapeText.split(',').map(Number);
  const raw = fs.readFileSync(inputPath);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const input = tf.tensor(dtype === 'int32' ? Int32Array.from(values) : values, shape, dtype);
  const nodes = nodesText.split(',');
  const taps = keras
    ? layers.model({ inputs: model.inputs, outputs: nodes.map((n) => layerOutput(model, n)) })
    : null;
  const run = () => {
    const out = keras ? taps.predict(input) : model.execute(input, nodes);
    return Array.isArray(out) ? out : [out];
  };
  const outputs = run();
  const result = { outputs: {}, forward_ms: [] };
  nodes.forEach((name, i) => {
    result.outputs[name] = { shape: outputs[i].shape, data: Array.from(outputs[i].dataSync()) };
  });
  tf.dispose(outputs);
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    const out = run();
    out.forEach((t) => t.dataSync());
    result.forward_ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    tf.dispose(out);
  }
  fs.writeFileSync(outPath, JSON.stringify(result));
}

main().catch((e) => {
  console.error(`reference.js: ${e.message}`);
  process.exit(1);
});
