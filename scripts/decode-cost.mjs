#!/usr/bin/env node
// CPU cost of decoding one image of an image-folder tree, on one thread, split into its parts:
// the project's decodeImage (what the loaders run per image: the native JPEG decoder and resize),
// the native decode + prepare alone, the fallback path (sharp's bare decode + the native
// prepare, what a PNG or a machine without libjpeg gets), sharp's own decode + resize + grey
// pipeline (what decodeImage was before cache format 2), sharp's bare decode, and reading the file.
//   npm run build:ts && node scripts/decode-cost.mjs [TREE] [FILES]
// TREE defaults to the loader bench's synthetic tree (~/.cache/greedynas/bench-imagenet-100x500,
// made by `npm run bench:loader`); FILES (default 500) are taken from its first 4 classes of
// train/, after 50 warm-up decodes per variant. Output at W1's input (28x28, grey).
//   node scripts/decode-cost.mjs --large
// instead times one ImageNet-sized JPEG (500x375, noisy stripes, quality 90) decoded to RGB at
// 224, 64 and 32 pixels (cover): sharp's own pipeline (with its shrink-on-load) against the native
// decode + prepare, 60 times each after 5 warm-up decodes.
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../dist/data/image-folder.js';
import { decodeJpegSync, nativeJpegDecoder, prepareImageSync } from '../dist/native/image.js';

sharp.concurrency(1);
sharp.cache(false);
/** Runs fn over `inputs` after `warmUp` untimed calls on the first ones; prints wall and CPU time per call. */
async function time(name, inputs, warmUp, fn) {
  for (const x of inputs.slice(0, warmUp)) await fn(x);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const x of inputs) await fn(x);
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / inputs.length;
  const cpu = (c.user + c.system) / 1000 / inputs.length;
  console.log(`${name.padEnd(44)} ${wall.toFixed(3)} ms wall, ${cpu.toFixed(3)} ms CPU per image`);
}

if (process.argv[2] === '--large') {
  const [W, H] = [500, 375];
  const px = Buffer.alloc(W * H * 3);
  for (let i = 0, s = 1; i < px.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    px[i] = ((i % 1500) / 6 + (s & 31)) & 255;
  }
  const jpeg = await sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const copies = Array(60).fill(jpeg);
  console.log(`one ${W}x${H} JPEG (${jpeg.length} bytes), one thread; native JPEG decoder: ${nativeJpegDecoder().library ?? 'none'}`);
  for (const side of [224, 64, 32]) {
    await time(`sharp decode + resize -> ${side} (before)`, copies, 5, (b) =>
      sharp(b, { failOn: 'warning' }).resize(side, side, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer());
    await time(`native decode + prepare -> ${side}`, copies, 5, (b) => decodeJpegSync(b, { width: side, height: side, fit: 'cover', channels: 3 }));
  }
  process.exit(0);
}
const tree = process.argv[2] ?? path.join(os.homedir(), '.cache/greedynas/bench-imagenet-100x500');
const count = Number(process.argv[3] ?? 500);
if (!Number.isInteger(count) || count < 1) throw new Error(`FILES must be a positive integer, got ${process.argv[3]}`);
const train = path.join(tree, 'train');
const classes = readdirSync(train).sort().slice(0, 4);
const perClass = Math.ceil(count / classes.length);
const files = classes
  .flatMap((c) => readdirSync(path.join(train, c)).sort().slice(0, perClass).map((f) => path.join(train, c, f)))
  .slice(0, count);
const spec = { size: { height: 28, width: 28 }, fit: 'cover', channels: 1 };
const target = { width: 28, height: 28, fit: 'cover', channels: 1 };

const decoder = nativeJpegDecoder();
console.log(`${files.length} files of ${train}, one thread; native JPEG decoder: ${decoder.library ?? `none (${decoder.reason})`}`);
await time("decodeImage (the loaders' decode)", files, 50, (f) => decodeImage(f, spec));
if (decoder.library) await time('native decode + prepare (sync)', files, 50, (f) => decodeJpegSync(readFileSync(f), target));
await time('sharp bare decode + native prepare', files, 50, async (f) => {
  const { data, info } = await sharp(readFileSync(f)).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return prepareImageSync({ data, width: info.width, height: info.height, channels: info.channels }, target);
});
await time('sharp decode + resize + grey (before)', files, 50, (f) =>
  sharp(readFileSync(f)).resize(28, 28, { fit: 'cover' }).toColourspace('b-w').raw().toBuffer());
await time('sharp bare decode', files, 50, (f) => sharp(readFileSync(f)).raw().toBuffer());
await time('read the file', files, 50, async (f) => readFileSync(f));
