#!/usr/bin/env node
// The forward-only calls after three W1 training steps, hashed to the bit, for checking that a
// kernel change leaves them bit-identical (as scripts/train-trace.mjs does for training): the
// eval-mode `predict` of four paths (running statistics), scoring ten paths with running
// statistics, and scoring ten paths in the given arithmetic with batch statistics.
//   node scripts/eval-trace.mjs TREE [fp32|bf16] > a.txt     (default fp32)
// Compare the outputs of built trees of both commits with `cmp`, on the same machine and threads.
import { createHash } from 'node:crypto';
import { loadW1 } from './w1-fixture.mjs';

const scoreMath = process.argv[3] ?? 'fp32';
if (scoreMath !== 'fp32' && scoreMath !== 'bf16') throw new Error(`expected fp32 or bf16, got ${scoreMath}`);
const w1 = await loadW1(process.argv[2] ?? '.');
const net = await w1.Supernet.create(w1.space, { threads: 2, seed: 0, scoreMath });
const images = w1.images(100);
const labels = w1.labels(100);
for (let i = 0; i < 3; i++) await net.trainStep(w1.paths(1)[0], images, labels, { lr: 0.05 });
const hash = (a) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
for (const path of [w1.arch, ...w1.paths(3)]) console.log('predict', hash(await net.predict(path, images, { bn: 'running' })));
for (const bn of ['running', 'batch']) {
  const scores = await net.evaluate(w1.paths(10), images, labels, { bn });
  console.log(`evaluate ${bn}`, scores.map((s) => `${s.loss.toPrecision(17)}/${s.correct}`).join(' '));
}
await net.dispose();
