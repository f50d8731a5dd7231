#!/usr/bin/env node
// Resident memory of a greedy run's two phases on the W1 bench space, in one process:
//   node scripts/score-memory.mjs [TREE] [CHUNK ...]     (default: . 250 500 1000)
// Creates the supernet (TREE/dist/native/engine.js, 2 threads, FP32 scoring), trains 5 steps at
// batch 128, then for each CHUNK scores 10 random paths on CHUNK images as one batch (BN
// statistics over the chunk) and trains 2 more steps, printing VmRSS and VmHWM (MB) after each
// phase. Workload: scripts/w1-fixture.mjs.
import { readFileSync } from 'node:fs';

import { loadW1 } from './w1-fixture.mjs';

const chunks = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [250, 500, 1000];
if (chunks.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`chunks must be positive integers, got ${process.argv.slice(3).join(' ')}`);
const status = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const report = (what) => console.log(`${what.padEnd(36)} RSS ${status('VmRSS').toFixed(0).padStart(6)} MB   peak ${status('VmHWM').toFixed(0).padStart(6)} MB`);

const w1 = await loadW1(process.argv[2] ?? '.');
const net = await w1.Supernet.create(w1.space, { threads: 2, seed: 0, scoreMath: 'fp32' });
report('after create');
const ti = w1.images(128), tl = w1.labels(128);
for (let i = 0; i < 5; i++) await net.trainStep(w1.arch, ti, tl, { lr: 0.01 });
report('after 5 train steps');
const paths = w1.paths(10);
for (const n of chunks) {
  await net.evaluate(paths, w1.images(n), w1.labels(n), { bn: 'batch' });
  report(`after scoring 10 paths x ${n}`);
  for (let i = 0; i < 2; i++) await net.trainStep(w1.arch, ti, tl, { lr: 0.01 });
  report('after 2 more train steps');
}
await net.dispose();
