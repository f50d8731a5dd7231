// Stand-alone ground truth: every path of a set trained from scratch with the retraining recipe
// (fresh weights, the training split without the held-out images, --retrain-epochs/-lr/-batch),
// then measured on the test set and on the held-out split. The result is a truth file that
// `rank --truth` reads: <out>/truth.json maps each arch key to
//   {accuracy: mean test accuracy in %, testAccuracies: per seed, heldOutAccuracy, flops, params, seconds}.
// The file is rewritten atomically after every path, so a killed run loses at most the path in
// progress; a rerun skips the paths already there. The recipe is in <out>/truth-settings.json and a
// rerun with another recipe is refused (its numbers would not be comparable) and leaves the run's
// config.json as it was.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { formatSeconds } from '../util/progress.js';
import { ConfigError, type RunConfig } from './config.js';
import type { Prepared } from './prepare.js';
import { retrain, type RetrainSettings } from './retrain.js';
import { readJsonFile } from './run-dir.js';

/** The settings of ground truth: the retraining recipe, and the data it is measured on (its recipe record). */
export type TruthSettings = RetrainSettings & Pick<RunConfig, 'data' | 'trainPerClass' | 'valFraction'>;

export interface TruthRecord {
  /** Mean test accuracy over the seeds, in percent. */
  accuracy: number;
  testAccuracies: number[];
  heldOutAccuracy: number;
  flops: number;
  params: number;
  seconds: number;
}

export type TruthMap = Record<string, TruthRecord>;

export interface TruthOptions {
  log: (line: string) => void;
  quiet?: boolean;
  /** Independent trainings per path (seed offsets 0, 1, ...); the truth is their mean. */
  seeds: number;
}

/** The settings a truth value depends on; a rerun must match them. */
function recipe(p: Prepared<TruthSettings>, seeds: number): Record<string, unknown> {
  const c = p.config;
  return {
    space: p.space.name,
    data: c.data,
    trainPerClass: c.trainPerClass,
    valFraction: c.valFraction,
    seed: c.seed,
    seeds,
    retrainEpochs: c.retrainEpochs,
    retrainLr: c.retrainLr,
    retrainBatch: c.retrainBatch,
    warmupEpochs: c.warmupEpochs,
    weightDecay: c.weightDecay,
    labelSmoothing: c.labelSmoothing,
    flip: c.flip,
    trainImages: p.train.labels.length,
    testImages: p.data.test.labels.length,
  };
}

export function truthFile(dir: string): string {
  return join(dir, 'truth.json');
}

export async function groundTruth(p: Prepared<TruthSettings>, archs: Arch[], opts: TruthOptions): Promise<TruthMap> {
  const file = truthFile(p.dir);
  const settingsFile = join(p.dir, 'truth-settings.json');
  const want = recipe(p, opts.seeds);
  let truth: TruthMap = {};
  if (existsSync(file)) {
    const json = readJsonFile(file, 'repair it, or delete it to train every path again');
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`truth.json in ${p.dir}: expected an object of arch key -> record: repair it, or delete it to train every path again`);
    truth = json as TruthMap;
    if (existsSync(settingsFile)) {
      const had = (readJsonFile(settingsFile, 'repair it, or delete it (the recipe is then taken as this one)') ?? {}) as Record<string, unknown>;
      const diffs = Object.keys(want).filter((k) => JSON.stringify(had[k]) !== JSON.stringify(want[k]));
      if (diffs.length > 0) {
        throw new ConfigError(
          `${file} was made with another recipe (${diffs.map((k) => `${k}: ${JSON.stringify(had[k])} there, ${JSON.stringify(want[k])} now`).join('; ')}); use another --out or the same settings`,
        );
      }
    }
  }
  // The run's record is written only now: a refused rerun leaves config.json as it was.
  p.recordRun();
  writeJsonAtomic(settingsFile, want);
  const todo = archs.filter((a) => truth[archKey(a)] === undefined);
  opts.log(`ground truth: ${archs.length} paths, ${archs.length - todo.length} already in ${file}, ${todo.length} to train (${opts.seeds} seed${opts.seeds > 1 ? 's' : ''} each, ${p.config.retrainEpochs} epochs on ${p.train.labels.length} images)`);
  const started = Date.now();
  for (let i = 0; i < todo.length; i++) {
    const arch = todo[i]!;
    const key = archKey(arch);
    const t0 = Date.now();
    const tests: number[] = [];
    let heldOut = 0;
    for (let s = 0; s < opts.seeds; s++) {
      const r = await retrain(p, arch, { log: () => undefined, resume: false, quiet: true, trainOn: 'train-split', seedOffset: s, checkpoints: false, evaluateHeldOut: true });
      tests.push(100 * r.testAccuracy);
      heldOut += (100 * (r.heldOutAccuracy ?? Number.NaN)) / opts.seeds;
      await r.net.dispose(); // one network per path and seed: free each (the GC does not see native memory)
    }
    const accuracy = tests.reduce((a, b) => a + b, 0) / tests.length;
    truth[key] = { accuracy, testAccuracies: tests, heldOutAccuracy: heldOut, flops: p.costs.archFlops(arch), params: p.costs.archParams(arch), seconds: (Date.now() - t0) / 1000 };
    writeJsonAtomic(file, truth);
    const elapsed = (Date.now() - started) / 1000;
    const eta = (elapsed / (i + 1)) * (todo.length - i - 1);
    opts.log(`truth ${i + 1}/${todo.length} ${key}: test ${accuracy.toFixed(2)}% held-out ${heldOut.toFixed(2)}% (${truth[key]!.seconds.toFixed(1)} s, ETA ${formatSeconds(eta)})`);
  }
  return truth;
}
