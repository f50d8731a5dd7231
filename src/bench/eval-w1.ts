// The engine's eval-mode forward alone, for the alternating eval-mode rounds of `npm run bench`
// (src/bench/run-bench.ts runs it and src/bench/ort-w1.ts in turn, each a fresh process): the W1
// path's `predict` (BN running statistics) at batch 128 on the workload's training batches, the
// same call the engine side (src/bench/ours-w1.ts) times. Prints one JSON object on stdout.
//
//   node dist/bench/eval-w1.js --workload DIR --threads N [--quick]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Supernet } from '../native/engine.js';
import { resolveSpace } from '../space/resolve.js';
import type { SpaceFile } from '../space/types.js';
import { medianMs } from './timing.js';
import { readWorkload } from './workload.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { workload: { type: 'string' }, threads: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  if (!values.workload || !values.threads) throw new Error('usage: node dist/bench/eval-w1.js --workload DIR --threads N [--quick]');
  const threads = Number(values.threads);
  const w = readWorkload(values.workload);
  const space = resolveSpace(JSON.parse(readFileSync(w.space, 'utf8')) as SpaceFile);
  const net = await Supernet.create(space, { threads, seed: 0 });
  const B = w.train.batch;
  const steps = values.quick ? 3 : 12;
  let i = 0;
  const ms = await medianMs('predict', () => net.predict(w.arch, w.trainImages[i++ % w.train.batches]!, { bn: 'running' }), steps, 2);
  await net.dispose();
  process.stdout.write(JSON.stringify({ side: 'greedynas', evalFwd: { imagesPerS: (B * 1000) / ms, ms, steps } }) + '\n');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
