#!/usr/bin/env node
// Six training steps on random W1 paths and one scoring call, printed at full precision, for
// checking that a kernel change leaves training bit-identical: run it on built trees of both
// commits and compare the outputs (`cmp`).
//   node scripts/train-trace.mjs TREE > a.txt
// Workload: scripts/w1-fixture.mjs (64 images, lr 0.05, threads 2, FP32 scoring). The check is
// only meaningful on the same machine and thread count (the kernels' summation order depends on
// the ISA and the threads).
import { loadW1 } from './w1-fixture.mjs';

const w1 = await loadW1(process.argv[2] ?? '.');
const net = await w1.Supernet.create(w1.space, { threads: 2, seed: 0, scoreMath: 'fp32' });
const images = w1.images(64);
const labels = w1.labels(64);
const paths = w1.paths(6);
const losses = [];
for (const p of paths) losses.push((await net.trainStep(p, images, labels, { lr: 0.05 })).loss);
const scores = await net.evaluate(paths, images, labels, { bn: 'batch' });
console.log(losses.map((l) => l.toPrecision(17)).join(' '));
console.log(scores.map((s) => `${s.loss.toPrecision(17)}/${s.correct}`).join(' '));
await net.dispose();
