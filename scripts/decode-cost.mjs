#!/usr/bin/env node
// CPU cost of decoding one image of an image-folder tree, on one thread, split into its parts:
// the project's decodeImage (what the streaming loader runs per image), sharp's bare decode, the
// decode with resize and grey conversion, and reading the file.
//   npm run build:ts && node scripts/decode-cost.mjs [TREE] [FILES]
// TREE defaults to the loader bench's synthetic tree (~/.cache/greedynas/bench-imagenet-100x500,
// made by `npm run bench:loader`); FILES (default 500) are taken from its first 4 classes of
// train/, after 50 warm-up decodes per variant. Output at W1's input (28x28, grey).
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../dist/data/image-folder.js';

sharp.concurrency(1);
sharp.cache(false);
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

async function time(name, fn) {
  for (const f of files.slice(0, 50)) await fn(f);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of files) await fn(f);
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / files.length;
  const cpu = (c.user + c.system) / 1000 / files.length;
  console.log(`${name.padEnd(34)} ${wall.toFixed(3)} ms wall, ${cpu.toFixed(3)} ms CPU per image`);
}

console.log(`${files.length} files of ${train}, one thread`);
await time('decodeImage (the loader\'s decode)', (f) => decodeImage(f, spec));
await time('sharp decode + resize + grey', (f) =>
  sharp(readFileSync(f)).resize(28, 28, { fit: 'cover' }).toColourspace('b-w').raw().toBuffer());
await time('sharp bare decode', (f) => sharp(readFileSync(f)).raw().toBuffer());
await time('read the file', async (f) => readFileSync(f));
