// What the stages leave in the run directory for people to read: results.json (merged stage by
// stage, with the provenance of src/util/provenance.ts and every path's op names beside its key),
// arch.json of the retrained path, retrain-metrics.csv, and the plots (src/pipeline/report.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { archOps, describeArch, formatArch, writeArchFile } from '../space/arch-file.js';
import type { ResolvedSpace } from '../space/types.js';
import { archKey } from '../space/types.js';
import { writeRetrainMetrics } from './metrics-csv.js';
import type { RunConfig } from './config.js';
import type { Prepared } from './prepare.js';
import type { RetrainResult } from './retrain.js';
import { ARCH_JSON, type SearchOutput } from './search.js';
import type { SupernetResult } from './train-supernet.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { provenance } from '../util/provenance.js';

/** Merges `parts` into <run>/results.json (a stage adds its part; the others stay). */
export function resultsFile(p: Prepared<Pick<RunConfig, 'threads' | 'gpus'>>, parts: Record<string, unknown>): void {
  const file = join(p.dir, 'results.json');
  let prev: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      prev = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      prev = {};
    }
  }
  writeJsonAtomic(file, { ...prev, ...parts, provenance: provenance(p.config), updated: new Date().toISOString() });
}

export function supernetSummary(r: SupernetResult) {
  return { iterations: r.iterations, stoppedBy: r.stoppedBy, epochs: r.history, poolSize: r.pool?.size ?? null, checkpoint: r.checkpoint };
}

export function searchSummary(s: SearchOutput, space: ResolvedSpace) {
  const ops = (a: readonly number[]) => archOps(space, a);
  return {
    best: s.best.slice(0, 5).map((e) => ({ ...e, ops: ops(e.arch) })),
    runs: s.runs.map((r) => {
      const best = r.result.top[0];
      return { init: r.init, evaluated: r.result.evaluated, best: best ? { ...best, ops: ops(best.arch) } : null };
    }),
  };
}

export function retrainSummary(r: RetrainResult, space: ResolvedSpace) {
  const d = describeArch(space, r.arch);
  return { arch: archKey(r.arch), ops: d.layers.map((l) => l.op), layers: d.layers, flops: d.flops, params: d.params, testAccuracy: r.testAccuracy, testLoss: r.testLoss, testImages: r.testImages, epochs: r.epochs };
}

/** After `retrain` (alone or in `run`): arch.json of the retrained path with its test accuracy, and retrain-metrics.csv. */
export function writeRetrainOutputs(p: Prepared<unknown>, r: RetrainResult): string[] {
  const arch = join(p.dir, ARCH_JSON);
  writeArchFile(
    arch,
    p.space,
    r.arch,
    {
      source: `retrain: trained from scratch for ${r.epochs.length} epochs on the training set`,
      testAccuracy: r.testAccuracy,
      testLoss: r.testLoss,
      testImages: r.testImages,
    },
  );
  return [arch, writeRetrainMetrics(p.dir, r.epochs)];
}

/** The layer table of a path, for the terminal. */
export function archLines(space: ResolvedSpace, arch: readonly number[]): string[] {
  return formatArch(describeArch(space, arch)).map((l) => `  ${l}`);
}
