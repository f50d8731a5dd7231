#!/usr/bin/env node
// The memory checks' measurements for one space, as the pipeline takes them (src/pipeline/
// engine-setup.ts): bytes per image of a scoring call and of a training step, the verdicts for
// some image counts on this machine, and the line checked against a real training step.
//   node scripts/memory-lines.mjs [SPACE] [--score N,N,...] [--train B,B,...] [--verify B]
// Defaults: greedynas-imagenet, scoring 1000,3000, training 64,256,1024, verify at batch 16 (every
// single-op path trained once at lr 0 on a real network; its native bytes and peak RSS printed).
// Needs a built tree (npm run build). The figures in docs/architecture.md ("Memory") come from it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { score: { type: 'string', default: '1000,3000' }, train: { type: 'string', default: '64,256,1024' }, verify: { type: 'string', default: '16' } },
});
const root = new URL('..', import.meta.url).pathname;
const { Supernet } = await import(`${root}dist/native/engine.js`);
const { loadSpace } = await import(`${root}dist/space/presets.js`);
const { checkScoringMemory, checkTrainingMemory, memoryLine } = await import(`${root}dist/pipeline/engine-setup.js`);
const space = loadSpace(positionals[0] ?? 'greedynas-imagenet');
const input = space.input;
const counts = (s) => s.split(',').filter(Boolean).map(Number);
const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MB`;
console.log(`${space.name}: ${input.height}x${input.width}x${input.channels}; available memory ${mb(process.availableMemory())}`);

const net = await Supernet.create(space, { seed: 0 });
for (const n of counts(values.score)) {
  const ds = { images: new Uint8Array(0), labels: { length: n }, ...input, classes: space.classes };
  try {
    await checkScoringMemory(net, ds, 'batch');
    console.log(`scoring ${n} images at once: fits`);
  } catch (e) {
    console.log(`scoring ${n} images at once: refused: ${e.message}`);
  }
}
for (const b of counts(values.train)) {
  try {
    const bytes = await checkTrainingMemory(net, input, b, '--batch');
    console.log(`training at batch ${b}: fits (${mb(bytes)} of activations)`);
  } catch (e) {
    console.log(`training at batch ${b}: refused: ${e.message}`);
  }
}
await net.dispose();

const B = Number(values.verify);
if (B > 0) {
  const real = await Supernet.create(space, { seed: 0 });
  // the check's own need for this batch: the line's fixed part (weights, gradients, optimizer
  // state, scratch) plus the batch's activations
  const { fixed, perImage } = await memoryLine(real, input, 'train', 'batch');
  const images = new Uint8Array(B * input.height * input.width * input.channels).fill(90);
  const labels = new Int32Array(B);
  for (let op = 0; op < space.opNames.length; op++) await real.trainStep(space.layers.map(() => op), images, labels, { lr: 0 });
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  const held = real.memoryBytes;
  const predicted = fixed + perImage * B;
  console.log(`verify at batch ${B}: the line predicts ${mb(predicted)}; after a step on every single-op path the network holds ${mb(held)} (${((held / predicted - 1) * 100).toFixed(1)}% off the line; peak RSS of this process ${mb(hwm)})`);
  await real.dispose();
}
