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
  const timeOne = async (name, fn) => {
    for (let i = 0; i < 5; i++) await fn();
    const c0 = process.cpuUsage();
    for (let i = 0; i < 60; i++) await fn();
    const c = process.cpuUsage(c0);
    console.log(`${name.padEnd(44)} ${((c.user + c.system) / 1000 / 60).toFixed(3)} ms CPU per image`);
  };
  console.log(`one ${W}x${H} JPEG (${jpeg.length} bytes), one thread; native JPEG decoder: ${nativeJpegDecoder().library ?? 'none'}`);
  for (const side of [224, 64, 32]) {
    await timeOne(`sharp decode + resize -> ${side} (before)`, () =>
      sharp(jpeg, { failOn: 'warning' }).resize(side, side, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer());
    await timeOne(`native decode + prepare -> ${side}`, () => decodeJpegSync(jpeg, { width: side, height: side, fit: 'cover', channels: 3 }));
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

async function time(name, fn) {
  for (const f of files.slice(0, 50)) await fn(f);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of files) await fn(f);
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / files.length;
  const cpu = (c.user + c.system) / 1000 / files.length;
  console.log(`${name.padEnd(44)} ${wall.toFixed(3)} ms wall, ${cpu.toFixed(3)} ms CPU per image`);
}

const decoder = nativeJpegDecoder();
console.log(`${files.length} files of ${train}, one thread; native JPEG decoder: ${decoder.library ?? `none (${decoder.reason})`}`);
await time("decodeImage (the loaders' decode)", (f) => decodeImage(f, spec));
if (decoder.library) await time('native decode + prepare (sync)', (f) => decodeJpegSync(readFileSync(f), target));
await time('sharp bare decode + native prepare', async (f) => {
  const { data, info } = await sharp(readFileSync(f)).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return prepareImageSync({ data, width: info.width, height: info.height, channels: info.channels }, target);
});
await time('sharp decode + resize + grey (before)', (f) =>
  sharp(readFileSync(f)).resize(28, 28, { fit: 'cover' }).toColourspace('b-w').raw().toBuffer());
await time('sharp bare decode', (f) => sharp(readFileSync(f)).raw().toBuffer());
await time('read the file', async (f) => readFileSync(f));
