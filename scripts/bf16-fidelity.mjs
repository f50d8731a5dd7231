#!/usr/bin/env node
// The bench's bfloat16 fidelity check on its own (src/bench/score-fidelity.ts, the row `npm run
// bench` prints): the W1 supernet trained 300 steps (batch 128) on the shipped Fashion-MNIST
// sample, then 100 random paths scored on 1,000 held-out images in FP32 and in bfloat16; prints
// Kendall tau, Spearman, the FP32 loss spread and the largest loss difference as JSON.
// Needs the built package. Usage: node scripts/bf16-fidelity.mjs [trainSteps]
import { readFileSync } from 'node:fs';

const { Supernet } = await import('../dist/native/engine.js');
const { scoreFidelity } = await import('../dist/bench/score-fidelity.js');
const space = JSON.parse(readFileSync(new URL('../bench/w1.space.json', import.meta.url), 'utf8'));
const fp32 = await Supernet.create(space, { threads: 2, seed: 0, scoreMath: 'fp32' });
const bf16 = await Supernet.create(space, { threads: 2, seed: 0, scoreMath: 'bf16' });
if (bf16.scoreMath !== 'bf16') console.error('note: this CPU has no fast bfloat16; both sides score in FP32');
const steps = Number(process.argv[2] ?? 300);
console.log(JSON.stringify(await scoreFidelity(fp32, bf16, { trainSteps: steps, paths: 100, images: 1000 }, 128)));
