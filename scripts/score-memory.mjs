#!/usr/bin/env node
// Resident memory of a greedy run's two phases on the W1 bench space, in one process:
//   node scripts/score-memory.mjs [TREE] [CHUNK ...]     (default: . 250 500 1000)
// Creates the supernet (TREE/dist/native/engine.js, 2 threads, FP32 scoring), trains 5 steps at
// batch 128, then for each CHUNK scores 10 random paths on CHUNK images as one batch (BN
// statistics over the chunk) and trains 2 more steps, printing VmRSS and VmHWM (MB) after each
// phase. Images, labels and paths come from a fixed linear congruential generator.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const chunks = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [250, 500, 1000];
if (chunks.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`chunks must be positive integers, got ${process.argv.slice(3).join(' ')}`);
const { Supernet } = await import(`${root}/dist/native/engine.js`);
const space = JSON.parse(readFileSync(`${root}/bench/w1.space.json`, 'utf8'));
const arch = JSON.parse(readFileSync(`${root}/bench/w1.path.json`, 'utf8')).arch;
const status = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const report = (what) => console.log(`${what.padEnd(36)} RSS ${status('VmRSS').toFixed(0).padStart(6)} MB   peak ${status('VmHWM').toFixed(0).padStart(6)} MB`);
const { height, width, channels } = space.input;
const layers = space.stages.reduce((n, st) => n + st.layers, 0);
let s = 1;
const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
const images = (n) => Uint8Array.from({ length: n * height * width * channels }, () => Math.floor(rnd() * 256));
const labels = (n) => Int32Array.from({ length: n }, () => Math.floor(rnd() * space.classes));

const net = await Supernet.create(space, { threads: 2, seed: 0, scoreMath: 'fp32' });
report('after create');
const ti = images(128), tl = labels(128);
for (let i = 0; i < 5; i++) await net.trainStep(arch, ti, tl, { lr: 0.01 });
report('after 5 train steps');
const paths = Array.from({ length: 10 }, () => Array.from({ length: layers }, () => Math.floor(rnd() * space.ops.length)));
for (const n of chunks) {
  await net.evaluate(paths, images(n), labels(n), { bn: 'batch' });
  report(`after scoring 10 paths x ${n}`);
  for (let i = 0; i < 2; i++) await net.trainStep(arch, ti, tl, { lr: 0.01 });
  report('after 2 more train steps');
}
await net.dispose();
