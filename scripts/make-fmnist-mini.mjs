#!/usr/bin/env node
// Builds data/fmnist-mini/: a stratified, seeded subset of Fashion-MNIST (default 600 training
// images per class from the 60,000 training images and 100 test images per class from the 10,000
// test images), written as gzipped IDX files under the standard names, plus classes.txt.
// The chosen images keep their original relative order. Deterministic: the same source files and
// options give byte-identical IDX contents (and, with the same zlib, identical .gz files).
//
//   node scripts/make-fmnist-mini.mjs [--src DIR] [--out DIR] [--train-per-class N] [--test-per-class N] [--seed S]
//
// Source: apt-get install -y dataset-fashion-mnist  (-> /usr/share/datasets/fashion-mnist/).
// Self-contained on purpose (node: modules only), so it runs without building the package.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const opts = {
    src: '/usr/share/datasets/fashion-mnist',
    out: path.join(here, '..', 'data', 'fmnist-mini'),
    trainPerClass: 600,
    testPerClass: 100,
    seed: 20200325,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    if (flag === '--src') opts.src = value;
    else if (flag === '--out') opts.out = value;
    else if (flag === '--train-per-class') opts.trainPerClass = Number(value);
    else if (flag === '--test-per-class') opts.testPerClass = Number(value);
    else if (flag === '--seed') opts.seed = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  for (const k of ['trainPerClass', 'testPerClass', 'seed']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) throw new Error(`--${k}: expected a non-negative integer, got ${opts[k]}`);
  }
  return opts;
}

/** Reads a (gzipped) uint8 IDX file: {dims, data}. */
function readIdx(file) {
  let bytes = readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) throw new Error(`${file}: not a uint8 IDX file`);
  const ndims = bytes[3];
  const dims = [];
  for (let d = 0; d < ndims; d++) dims.push(bytes.readUInt32BE(4 + 4 * d));
  const start = 4 + 4 * ndims;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== start + count) throw new Error(`${file}: expected ${start + count} bytes, got ${bytes.length}`);
  return { dims, data: bytes.subarray(start) };
}

function encodeIdx(dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** A small seeded generator (32-bit multiply-xorshift counter hash); uniform int in [0, n). */
function makeRng(seed, stream) {
  let counter = 0;
  const hash = (x) => {
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
    return (x ^ (x >>> 16)) >>> 0;
  };
  const base = hash(hash(seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9));
  const u32 = () => hash((base + Math.imul(++counter, 0x9e3779b9)) >>> 0);
  return (n) => {
    const limit = 0x100000000 - (0x100000000 % n);
    let u = u32();
    while (u >= limit) u = u32();
    return u % n;
  };
}

/** Original indices of `perClass` images of each class, drawn per class with its own stream, ascending. */
function stratifiedPick(labels, perClass, seed, streamBase) {
  const byClass = new Map();
  labels.forEach((l, i) => {
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l).push(i);
  });
  const picked = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(cls);
    if (members.length < perClass) throw new Error(`class ${cls} has ${members.length} images, fewer than ${perClass}`);
    const int = makeRng(seed, streamBase + cls);
    for (let i = 0; i < perClass; i++) {
      const j = i + int(members.length - i);
      [members[i], members[j]] = [members[j], members[i]];
      picked.push(members[i]);
    }
  }
  return picked.sort((a, b) => a - b);
}

function subset(imagesFile, labelsFile, perClass, seed, streamBase) {
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${imagesFile}: ${n} images but ${labels.dims[0]} labels`);
  const picked = stratifiedPick(Array.from(labels.data), perClass, seed, streamBase);
  const size = h * w;
  const outImages = Buffer.alloc(picked.length * size);
  const outLabels = Buffer.alloc(picked.length);
  picked.forEach((i, k) => {
    outImages.set(images.data.subarray(i * size, (i + 1) * size), k * size);
    outLabels[k] = labels.data[i];
  });
  return {
    images: encodeIdx([picked.length, h, w], outImages),
    labels: encodeIdx([picked.length], outLabels),
    count: picked.length,
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  mkdirSync(opts.out, { recursive: true });
  const parts = [
    ['train', 'train', opts.trainPerClass, 0],
    ['t10k', 't10k', opts.testPerClass, 1000],
  ];
  for (const [srcPrefix, outPrefix, perClass, streamBase] of parts) {
    const s = subset(
      path.join(opts.src, `${srcPrefix}-images-idx3-ubyte.gz`),
      path.join(opts.src, `${srcPrefix}-labels-idx1-ubyte.gz`),
      perClass,
      opts.seed,
      streamBase,
    );
    for (const [kind, raw] of [['images-idx3', s.images], ['labels-idx1', s.labels]]) {
      const file = path.join(opts.out, `${outPrefix}-${kind}-ubyte.gz`);
      const gz = gzipSync(raw, { level: 9 });
      writeFileSync(file, gz);
      const sha = createHash('sha256').update(raw).digest('hex').slice(0, 16);
      console.log(`${path.basename(file)}: ${s.count} items, ${gz.length} bytes gzipped, sha256(raw) ${sha}...`);
    }
  }
  writeFileSync(path.join(opts.out, 'classes.txt'), CLASS_NAMES.join('\n') + '\n');
}

main();
