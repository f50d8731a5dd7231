#!/usr/bin/env node
// A/B timing of the greedy round's scoring between two built trees of this repository (e.g. a
// worktree of an older commit and this one), on the same machine in alternating runs:
//   node scripts/ab-round.mjs TREE [fp32|bf16|auto]
// Loads TREE/dist/native/engine.js (TREE built: native addon + `npm run build:ts`), creates the W1
// supernet (bench/w1.space.json, seed 0, 2 threads) and times 10 paths x 1,000 images in chunks of
// 500, trie-batched (one evaluate call for all paths) and one path per call, 4 rounds (the last is
// printed); AB_CHUNK=250|500|1000 sets the chunk (default 500); GNAS_CPU_PROFILE=1 adds the
// per-op profile of all 4 rounds on stderr. The images, labels and paths come from a fixed linear congruential generator written
// here, not from either tree's RNG module, so that both trees score exactly the same work.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const scoreMath = process.argv[3];
const { Supernet } = await import(`${root}/dist/native/engine.js`);
const space = JSON.parse(readFileSync(`${root}/bench/w1.space.json`, 'utf8'));
const net = await Supernet.create(space, { threads: 2, seed: 0, ...(scoreMath ? { scoreMath } : {}) });
const { height, width, channels } = space.input;
const N = Number(process.env.AB_CHUNK ?? 500);
let s = 1;
const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
const images = Uint8Array.from({ length: N * height * width * channels }, () => Math.floor(rnd() * 256));
const labels = Int32Array.from({ length: N }, () => Math.floor(rnd() * space.classes));
const layers = space.stages.reduce((n, st) => n + st.layers, 0);
const paths = Array.from({ length: 10 }, () => Array.from({ length: layers }, () => Math.floor(rnd() * space.ops.length)));
const seconds = async (f) => {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
for (let r = 0; r < 4; r++) {
  const trie = await seconds(async () => { for (let c = 0; c < 1000 / N; c++) await net.evaluate(paths, images, labels, { bn: 'batch' }); });
  const single = await seconds(async () => { for (const p of paths) for (let c = 0; c < 1000 / N; c++) await net.evaluate([p], images, labels, { bn: 'batch' }); });
  if (r === 3) console.log(`${root}: trie-batched ${trie.toFixed(3)} s, one path per call ${single.toFixed(3)} s (10 paths x 1,000 images, chunks of ${N})`);
}
// disposing destroys the backend, which prints its per-op profile under GNAS_CPU_PROFILE=1
await net.dispose();
