#!/usr/bin/env node
// Paired A/B timing of two built trees IN ONE PROCESS: both engines are loaded side by side (each
// tree's dist/ loads its own build/Release addon) and their calls alternate A B B A A B ..., so
// each pair of calls sees the same machine state within a fraction of a second. On a shared VM
// whose speed drifts by 10-30% between runs (scripts/ab-step.mjs alternates whole processes), the
// per-pair ratio is what resolves a change of a few percent.
//   node scripts/ab-paired.mjs OLD_TREE NEW_TREE train|predict|evaluate [PAIRS] [THREADS] [fp32|bf16|auto]
// (default 40 pairs, 2 threads, FP32 scoring arithmetic; the last argument is the engines' scoreMath,
// which only evaluate uses). Prints each side's median call, the median of the per-pair ratios
// old/new (> 1: the new tree is faster) with their interquartile range, and in how many pairs the
// new tree was the faster. Both engines get the same images and labels (scripts/w1-fixture.mjs)
// and the same seed; only one engine runs at a time (the other's thread pool is asleep: its
// workers spin for at most ~20,000 pauses after a loop, then wait on a condition variable).
import { W1_CALLS, loadW1, w1Call } from './w1-fixture.mjs';

const [oldTree, newTree, what = 'train', pairsArg = '40', threadsArg = '2', scoreMath = 'fp32'] = process.argv.slice(2);
const pairs = Number(pairsArg);
const threads = Number(threadsArg);
if (!oldTree || !newTree || !W1_CALLS.includes(what) || !Number.isInteger(pairs) || pairs < 2 ||
    !Number.isInteger(threads) || threads < 1 || !['fp32', 'bf16', 'auto'].includes(scoreMath)) {
  console.error('usage: node scripts/ab-paired.mjs OLD_TREE NEW_TREE train|predict|evaluate [PAIRS >= 2] [THREADS] [fp32|bf16|auto]');
  process.exit(2);
}

const a = await loadW1(oldTree);
const b = await loadW1(newTree);
if (a.root === b.root) throw new Error(`both trees are ${a.root}: compare two different built trees`);
const B = 128;
const images = a.images(B);
const labels = a.labels(B);
const sides = [];
for (const w of [a, b]) {
  const net = await w.Supernet.create(w.space, { threads, seed: 0, scoreMath });
  sides.push({ root: w.root, call: () => w1Call(net, w.arch, what, images, labels), ms: [] });
}

async function timed(side) {
  const t = process.hrtime.bigint();
  await side.call();
  return Number(process.hrtime.bigint() - t) / 1e6;
}
for (let i = 0; i < 3; i++) for (const s of sides) await timed(s);  // warm-up: buffers, caches
const ratios = [];
for (let i = 0; i < pairs; i++) {
  const order = i % 2 === 0 ? [0, 1] : [1, 0];  // A B, then B A: neither always goes first
  const t = [0, 0];
  for (const k of order) t[k] = await timed(sides[k]);
  sides[0].ms.push(t[0]);
  sides[1].ms.push(t[1]);
  ratios.push(t[0] / t[1]);
}
const q = (xs, f) => {
  const s = [...xs].sort((x, y) => x - y);
  const p = f * (s.length - 1);
  const lo = Math.floor(p);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (p - lo);
};
for (const s of sides) console.log(`${s.root} ${what}: median ${q(s.ms, 0.5).toFixed(2)} ms, fastest ${Math.min(...s.ms).toFixed(2)} ms`);
const wins = ratios.filter((r) => r > 1).length;
console.log(
  `old/new per pair: median ${q(ratios, 0.5).toFixed(3)}x, interquartile ${q(ratios, 0.25).toFixed(3)}-${q(ratios, 0.75).toFixed(3)}x; ` +
    `new faster in ${wins} of ${pairs} pairs (batch ${B}, ${threads} threads${what === 'evaluate' ? `, scoreMath ${scoreMath}` : ''})`,
);
