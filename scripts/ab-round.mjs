#!/usr/bin/env node
// A/B timing of the greedy round's scoring between two built trees of this repository (e.g. a
// worktree of an older commit and this one), on the same machine in alternating runs:
//   node scripts/ab-round.mjs TREE [fp32|bf16|auto]
// Loads TREE/dist/native/engine.js (TREE built: native addon + `npm run build:ts`), creates the W1
// supernet (bench/w1.space.json, seed 0, 2 threads) and times 10 paths x 1,000 images in chunks of
// 500, trie-batched (one evaluate call for all paths) and one path per call, 4 rounds (the last is
// printed); AB_CHUNK=250|500|1000 sets the chunk (default 500); GNAS_CPU_PROFILE=1 adds the
// per-op profile of all 4 rounds on stderr. The images, labels and paths come from the fixed generator
// in scripts/w1-fixture.mjs, not from either tree's RNG module, so that both trees score exactly
// the same work.
import { loadW1 } from './w1-fixture.mjs';

const w1 = await loadW1(process.argv[2] ?? '.');
const { root } = w1;
const scoreMath = process.argv[3];
const net = await w1.Supernet.create(w1.space, { threads: 2, seed: 0, ...(scoreMath ? { scoreMath } : {}) });
const N = Number(process.env.AB_CHUNK ?? 500);
const images = w1.images(N);
const labels = w1.labels(N);
const paths = w1.paths(10);
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
