// Writes the 100 face images of scikit-image's lfw_subset.npy (Debian's python3-skimage: 200
// float64 grayscale images of 25x25 in [0,1] from Labeled Faces in the Wild, the first 100
// faces and the rest not) as 8-bit PGM files that foil reads as image folders.
//
//   node faces.js LFW_SUBSET_NPY OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const [npy, out] = process.argv.slice(2);
const bytes = fs.readFileSync(npy);
if (bytes.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${npy}: not a .npy file`);
const headerLength = bytes.readUInt16LE(8);
const header = bytes.toString('latin1', 10, 10 + headerLength);
const shape = /'shape': \((\d+), (\d+), (\d+)\)/.exec(header);
if (!header.includes("'descr': '<f8'") || !shape || header.includes("'fortran_order': True"))
  throw new Error(`${npy}: expected C-ordered float64 N x H x W, got ${header.trim()}`);
const [n, h, w] = shape.slice(1).map(Number);
const faces = Math.min(100, n);
fs.mkdirSync(out, { recursive: true });
for (let i = 0; i < faces; ++i) {
  const pixels = Buffer.alloc(h * w);
  for (let k = 0; k < h * w; ++k) {
    const v = bytes.readDoubleLE(10 + headerLength + 8 * (i * h * w + k));
    pixels[k] = Math.round(255 * Math.min(1, Math.max(0, v)));
  }
  const name = path.join(out, `lfw-${String(i).padStart(3, '0')}.pgm`);
  fs.writeFileSync(name, Buffer.concat([Buffer.from(`P5\n${w} ${h}\n255\n`), pixels]));
}
console.log(`wrote ${faces} faces of ${h}x${w} to ${out}`);
