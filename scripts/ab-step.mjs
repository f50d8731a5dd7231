#!/usr/bin/env node
// Median time of one engine call on the W1 bench path at batch 128, for A/B runs of two built
// trees on the same machine (alternate them: this machine's speed drifts between runs):
//   node scripts/ab-step.mjs TREE train|predict|evaluate [CALLS] [THREADS] [fp32|bf16|auto]
// (default 40 calls, 2 threads, fp32) train = trainStep (lr 0.01), predict = eval mode (BN running
// statistics), evaluate = scoring with BN statistics from the batch, in the given scoring
// arithmetic (bf16 needs AVX512-BF16). Prints the median and fastest call and images/s.
// Workload: scripts/w1-fixture.mjs.
import { W1_CALLS, loadW1, w1Call } from './w1-fixture.mjs';

const what = process.argv[3] ?? 'predict';
const calls = Number(process.argv[4] ?? 40);
const threads = Number(process.argv[5] ?? 2);
if (!W1_CALLS.includes(what)) throw new Error(`expected train, predict or evaluate, got ${what}`);
if (!Number.isInteger(calls) || calls < 1) throw new Error(`CALLS must be a positive integer, got ${process.argv[4]}`);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`THREADS must be a positive integer, got ${process.argv[5]}`);
const scoreMath = process.argv[6] ?? 'fp32';
if (!['fp32', 'bf16', 'auto'].includes(scoreMath)) throw new Error(`expected fp32, bf16 or auto, got ${scoreMath}`);
const w1 = await loadW1(process.argv[2] ?? '.');
const net = await w1.Supernet.create(w1.space, { threads, seed: 0, scoreMath });
const B = 128;
const images = w1.images(B);
const labels = w1.labels(B);
const ms = [];
for (let i = 0; i < calls; i++) {
  const t = process.hrtime.bigint();
  await w1Call(net, w1.arch, what, images, labels);
  ms.push(Number(process.hrtime.bigint() - t) / 1e6);
}
ms.sort((a, b) => a - b);
const med = ms[Math.floor(calls / 2)];
console.log(`${w1.root} ${what}: median ${med.toFixed(2)} ms, fastest ${ms[0].toFixed(2)} ms, ${((B * 1000) / med).toFixed(0)} images/s (batch ${B}, ${threads} threads, ${calls} calls, ${scoreMath} scoring)`);
await net.dispose();
