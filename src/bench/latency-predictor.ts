// Validation of the latency estimates on held-out paths, per preset space: builds a fresh lookup
// table, times training and held-out paths as whole models (interleaved, CPU time, 1 thread,
// median over rounds), fits the FLOPs line and the feature model on the training paths, and
// prints Pearson, Spearman and MAPE of each estimate on the held-out paths, with the load average
// before and after (the build machines are shared; see src/profile/latency-choice.ts).
//
//   node dist/bench/latency-predictor.js [--space NAME ...] [--train 40] [--paths 30] [--seed 9173]
//        [--runs 60] [--rounds 6] [--json FILE]
// Without --space: every preset space.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { formatChoice, latencyEstimator } from '../profile/latency-choice.js';
import { listPresets, loadSpace } from '../space/presets.js';

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      space: { type: 'string', multiple: true },
      train: { type: 'string', default: '40' },
      paths: { type: 'string', default: '30' },
      seed: { type: 'string', default: '9173' },
      runs: { type: 'string', default: '60' },
      rounds: { type: 'string', default: '6' },
      json: { type: 'string' },
    },
  });
  const int = (k: 'train' | 'paths' | 'seed' | 'runs' | 'rounds'): number => {
    const n = Number(values[k]);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${k}: expected a non-negative integer, got '${values[k]}'`);
    return n;
  };
  const spaces = values.space ?? listPresets();
  const out: Record<string, unknown> = {};
  for (const name of spaces) {
    const space = loadSpace(name);
    const dir = await mkdtemp(join(tmpdir(), 'greedynas-latency-validate-'));
    const before = load();
    const t0 = performance.now();
    try {
      const est = await latencyEstimator(space, {
        cacheDir: dir,
        rebuild: true,
        trainPaths: int('train'),
        heldOutPaths: int('paths'),
        pathSeed: int('seed'),
        runs: int('runs'),
        rounds: int('rounds'),
        log: (l) => process.stderr.write(`  ${l}\n`),
      });
      const seconds = (performance.now() - t0) / 1000;
      console.log(`\n== ${name}: ${space.layers.length} layers x ${space.opNames.length} ops (${seconds.toFixed(0)} s; load average before ${before}, after ${load()})`);
      console.log(formatChoice(est.choice));
      out[name] = { loadBefore: before, loadAfter: load(), seconds, choice: est.choice };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(out, null, 1)}\n`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
