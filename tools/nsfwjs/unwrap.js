// Writes the nsfwjs models as plain TensorFlow.js models: OUT_DIR/nsfw-<name>.json and its
// shards nsfw-<name>-shardKofN.bin. nsfwjs ships each model.json and weight shard as a
// browserify-wrapped JavaScript file whose module export is the JSON object (model) or the
// shard's bytes in base64 (weights).
//
//   node unwrap.js PACKAGE_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const [pkg, out] = process.argv.slice(2);
const models = path.join(pkg, 'dist', 'models');
fs.mkdirSync(out, { recursive: true });
for (const folder of fs.readdirSync(models)) {
  const dir = path.join(models, folder);
  if (!fs.statSync(dir).isDirectory()) continue;
  const name = `nsfw-${folder.replace(/_/g, '-')}`;
  const model = require(path.resolve(dir, 'model.min.js'));
  // Shards first: the model file's presence marks a complete model.
  for (const group of model.weightsManifest) {
    group.paths = group.paths.map((shard) => {
      const text = require(path.resolve(dir, `${shard}.min.js`));
      if (typeof text !== 'string') throw new Error(`${dir}/${shard}.min.js: not a base64 string`);
      const file = `${name}-${shard.replace(/^group\d+-/, '')}.bin`;
      fs.writeFileSync(path.join(out, file), Buffer.from(text, 'base64'));
      return file;
    });
  }
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(model));
}
