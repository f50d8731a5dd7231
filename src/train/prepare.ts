// What every stage of a run needs before it computes: the resolved space with its cost table,
// the dataset (checked against the space's input shape and classes), the stratified validation
// split (written to the run directory, so the search never sees training images as held-out
// ones and the test set is never touched), and the run directory itself.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadOrCreateSplit, openDataset, subsetDataset, type Dataset, type OpenedDataset, type ValidationSplit } from '../data/index.js';
import { costTable, type CostTable } from '../space/cost.js';
import { loadSpaceFile } from '../space/presets.js';
import type { ResolvedSpace, SpaceFile } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { Rng } from '../util/rng.js';
import type { RunConfig } from './config.js';
import { ConfigError } from './config.js';

export interface Prepared {
  config: RunConfig;
  spaceFile: SpaceFile;
  space: ResolvedSpace;
  costs: CostTable;
  data: OpenedDataset;
  split: ValidationSplit;
  /** The training images minus the held-out ones. */
  train: Dataset;
  /** The held-out validation images (from the training set). */
  val: Dataset;
  dir: string;
}

export interface PrepareOptions {
  log?: (line: string) => void;
}

export async function prepare(config: RunConfig, options: PrepareOptions = {}): Promise<Prepared> {
  const log = options.log ?? (() => undefined);
  const loaded = loadSpaceFile(config.space);
  const space = loaded.space;
  const costs = costTable(space);
  const dir = resolve(config.out);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(dir)) throw new ConfigError(`--out ${config.out}: cannot create the run directory`);

  const { height, width, channels } = space.input;
  const data = await openDataset({ path: config.data, size: { height, width }, channels: channels === 1 ? 1 : 3 });
  for (const [name, ds] of [['train', data.train], ['test', data.test]] as const) {
    if (ds.height !== height || ds.width !== width || ds.channels !== channels) {
      throw new ConfigError(
        `--data ${config.data}: ${name} images are ${ds.height}x${ds.width}x${ds.channels} but the space '${space.name}' takes ${height}x${width}x${channels}; choose a space for this dataset (e.g. --space fmnist for 28x28x1, --space cifar for 32x32x3)`,
      );
    }
    if (ds.classes > space.classes) {
      throw new ConfigError(`--data ${config.data}: ${ds.classes} classes but the space '${space.name}' has ${space.classes} outputs`);
    }
  }
  const { split, created } = await loadOrCreateSplit(join(dir, 'split.json'), data.train.labels, data.train.classes, { seed: config.seed, fraction: config.valFraction });
  log(`${created ? 'wrote' : 'reused'} validation split: ${split.train.length} training / ${split.val.length} held-out images (test set of ${data.test.labels.length} untouched)`);
  const train = subsetDataset(data.train, split.train);
  const val = subsetDataset(data.train, split.val);
  return { config, spaceFile: loaded.file, space, costs, data, split, train, val, dir };
}

/** config.json of the run directory: the settings that made it, for the record and for resume. */
export function writeRunConfig(p: Prepared): void {
  writeJsonAtomic(join(p.dir, 'config.json'), { ...p.config, resolvedSpace: p.space.name });
}

/** Deterministic subset of a dataset: the first n of a seeded permutation (the split is already stratified). */
export function fixedSubset(ds: Dataset, n: number, seed: number): Dataset {
  const order = new Rng(seed).permutation(ds.labels.length);
  return subsetDataset(ds, Array.from(order).slice(0, Math.min(n, ds.labels.length)));
}

/** The config's BN-recalibration images (a fixed subset of the training split) cut into batches. */
export function calibrationBatches(p: Prepared): Uint8Array[] {
  const c = p.config;
  const calib = fixedSubset(p.train, c.calibrationImages, c.seed + 707);
  const px = p.space.input.height * p.space.input.width * p.space.input.channels;
  const batches: Uint8Array[] = [];
  for (let i = 0; i < calib.labels.length; i += c.batch) batches.push(calib.images.subarray(i * px, Math.min(calib.labels.length, i + c.batch) * px));
  return batches;
}
