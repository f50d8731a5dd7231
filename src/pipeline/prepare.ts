// What every stage of a run needs before it computes: the resolved space with its cost table,
// the dataset (checked against the space's input shape and classes; optionally cut to
// --train-per-class images per class), the stratified validation split (written to the run
// directory, so the search never sees training images as held-out ones and the test set is never
// touched), the two disjoint parts of the held-out split (the images that score greedy rounds
// during training, and the rest, which the search, `rank` and the probe paths use, so that the
// search never judges paths on the images the pool was selected on), and the run directory with
// its run id (src/pipeline/run-dir.ts; orphan temporary files of killed writers are removed there).
// prepare() takes the whole configuration, which it records in config.json; a stage reads the
// Prepared run through its own narrow settings type (Prepared<SearchSettings>, ...).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { defaultDecodeWorkers, imageCount, imageDecoderSummary, loadOrCreateSplit, materialise, openTrainingData, saveSplit, stratifiedSplit, subsetDataset, subsetImages, type Dataset, type ImageSet, type TrainingData, type ValidationSplit } from '../data/index.js';
import { costTable, type CostTable } from '../space/cost.js';
import { loadSpaceFile } from '../space/presets.js';
import type { ResolvedSpace, SpaceFile } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { provenance } from '../util/provenance.js';
import { Rng, RNG_STREAMS } from '../util/rng.js';
import type { RunConfig } from './config.js';
import { ConfigError, scoringImagesFor, type ScoringImageSettings } from './config.js';
import { fsReason, removeOrphanTemporaries, runIdOf, spaceHashOf } from './run-dir.js';

/** A prepared run; `S`: the settings a stage reads (by default all of them). */
export interface Prepared<S = RunConfig> {
  config: S;
  spaceFile: SpaceFile;
  space: ResolvedSpace;
  costs: CostTable;
  /** The data; an image folder's training set may be streamed (data.mode, src/data/folder-stream.ts). */
  data: TrainingData;
  split: ValidationSplit;
  /** The training images minus the held-out ones (streamed when data.mode is 'stream'). */
  train: ImageSet;
  /** The BN-recalibration images: a fixed subset of `train`, in memory. */
  calibration: Dataset;
  /** The held-out validation images (from the training set). */
  val: Dataset;
  /** Held-out images that score the m paths of every greedy round (scoringImagesFor(config) of them). */
  roundScoring: Dataset;
  /** The other held-out images: search, `rank` and the probe paths score on these. */
  searchSet: Dataset;
  dir: string;
  /** The run's id (config.json's runId; a fresh one for a new run; null for a run recorded before run ids). */
  runId: string | null;
  /** sha256 of the resolved space's JSON (recorded in config.json, compared by --resume). */
  spaceHash: string;
  /** Writes config.json: the whole configuration that made the run, its run id, space hash and provenance. */
  recordRun(): void;
}

export interface PrepareOptions {
  log?: (line: string) => void;
  /**
   * Batch sizes the command will draw with dropLast (an epoch needs one whole batch), checked
   * before anything is written: `split` against the training split, `all` against the whole
   * training set (retraining).
   */
  batches?: ReadonlyArray<{ flag: string; size: number; on: 'split' | 'all' }>;
}

export async function prepare(config: RunConfig, options: PrepareOptions = {}): Promise<Prepared> {
  const log = options.log ?? (() => undefined);
  const loaded = loadSpaceFile(config.space);
  const space = loaded.space;
  const costs = costTable(space);
  const dir = resolve(config.out);

  // The data is opened and checked against the space before the run directory is created or
  // touched: a command refused for its --data, --space or batch sizes leaves no folder behind.
  const { height, width, channels } = space.input;
  const data = await openTrainingData({
    path: config.data,
    size: { height, width },
    channels: channels === 1 ? 1 : 3,
    mode: config.dataMode,
    streamCache: config.streamCache,
    workers: defaultDecodeWorkers(config.threads),
  });
  log(`data: ${data.mode === 'stream' ? `training images streamed from disk by ${data.pool!.size} worker thread(s)` : 'decoded into memory'} (${data.modeReason})${data.streamCache ? `; decoded-tensor cache ${data.streamCache.status}: ${data.streamCache.file}` : ''}`);
  if (data.kind === 'image-folder') log(`data: ${imageDecoderSummary()}`);
  if (config.trainPerClass !== null) data.train = perClassSubset(data.train, config.trainPerClass, config.seed);
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
  // The split too is drawn (or read) and checked before the folder is touched: a split.json left
  // by a refused command would refuse the corrected one (another --seed or --val-fraction).
  const splitFile = join(dir, 'split.json');
  const splitOptions = { seed: config.seed, fraction: config.valFraction };
  const { split, created } = existsSync(splitFile)
    ? await loadOrCreateSplit(splitFile, data.train.labels, data.train.classes, splitOptions)
    : { split: stratifiedSplit(data.train.labels, data.train.classes, splitOptions), created: true };
  const train = subsetImages(data.train, split.train);
  const val = data.pool ? await materialise(subsetImages(data.train, split.val), data.pool) : subsetDataset(data.train as Dataset, split.val);
  const { roundScoring, searchSet } = partitionHeldOut(val, config);
  if (searchSet.labels.length === 0) {
    throw new ConfigError(
      `the held-out split has ${val.labels.length} images and greedy rounds score ${roundScoring.labels.length} of them, leaving none for the search: lower --val-images or raise --val-fraction`,
    );
  }
  const wanted = scoringImagesFor(config);
  if (!config.redrawScoringBatch && roundScoring.labels.length < wanted) {
    // not an error: small held-out splits are normal on small datasets; but never silently fewer
    const asked = config.valImages !== null ? `--val-images ${config.valImages}` : `the ${wanted} of the paper's cost ratio`;
    log(
      `greedy rounds score ${roundScoring.labels.length} held-out images, not ${asked}: the held-out split has ${val.labels.length} and the search keeps the other half (raise --val-fraction for more)`,
    );
  }
  for (const b of options.batches ?? []) {
    const n = b.on === 'split' ? imageCount(train) : imageCount(data.train);
    if (b.size > n) {
      const what = b.on === 'split' ? `the ${n} images of the training split (after --train-per-class and --val-fraction)` : `the ${n} training images`;
      throw new ConfigError(`${b.flag} ${b.size} is larger than ${what}, so an epoch would have no batch: lower ${b.flag}`);
    }
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ConfigError(`--out ${config.out}: cannot create the run directory (${fsReason(e)}): choose a writable --out`);
  }
  if (!existsSync(dir)) throw new ConfigError(`--out ${config.out}: cannot create the run directory`);
  removeOrphanTemporaries(dir, log);
  const runId = runIdOf(dir);
  if (created) await saveSplit(splitFile, split);
  log(`${created ? 'wrote' : 'reused'} validation split: ${split.train.length} training / ${split.val.length} held-out images (test set of ${data.test.labels.length} untouched)`);
  const spaceHash = spaceHashOf(space);
  const recordRun = () => writeRunConfig(dir, config, { resolvedSpace: space.name, runId, spaceHash });
  const calibrationSet = fixedSubsetOf(train, config.calibrationImages, config.seed + 707);
  const calibration = data.pool ? await materialise(calibrationSet, data.pool) : (calibrationSet as Dataset);
  return { config, spaceFile: loaded.file, space, costs, data, split, train, calibration, val, roundScoring, searchSet, dir, runId, spaceHash, recordRun };
}

/**
 * Splits the held-out images in two by a seeded order: the first scoringImagesFor(config) score
 * greedy rounds, the rest serve the search. When the split is too small for both, the rounds get
 * at most half of it. With --redraw-scoring-batch the rounds get half of the split (each round
 * draws its images from that half), so that a redraw is a new batch, not the same one reordered.
 */
export type HeldOutSettings = ScoringImageSettings & Pick<RunConfig, 'seed' | 'redrawScoringBatch'>;

export function partitionHeldOut(val: Dataset, config: HeldOutSettings): { roundScoring: Dataset; searchSet: Dataset } {
  const n = val.labels.length;
  const order = Array.from(new Rng(config.seed + 404).permutation(n));
  const want = scoringImagesFor(config);
  const rounds = config.redrawScoringBatch ? Math.floor(n / 2) : Math.min(want, Math.ceil(n / 2));
  return { roundScoring: subsetDataset(val, order.slice(0, rounds)), searchSet: subsetDataset(val, order.slice(rounds)) };
}

/** Stream tag of perClassSubset's order (its own stream: seed + 303 was also the greedy sampler's). */
const PER_CLASS_STREAM = 0x9c1a;

/** The first `perClass` images of each class in a seeded order, stream (seed, PER_CLASS_STREAM): a stratified subset of a training set (in memory or streamed). */
export function perClassSubset<T extends ImageSet>(ds: T, perClass: number, seed: number): T {
  const order = new Rng(seed, PER_CLASS_STREAM).permutation(ds.labels.length);
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (const i of order) {
    const label = ds.labels[i]!;
    const t = taken.get(label) ?? 0;
    if (t >= perClass) continue;
    taken.set(label, t + 1);
    keep.push(i);
  }
  keep.sort((a, b) => a - b);
  return subsetImages(ds, keep);
}

/** config.json of the run directory: the settings that made it, its run id, space hash and random-stream version, and what ran it (src/util/provenance.ts), for the record and for resume. */
function writeRunConfig(dir: string, config: RunConfig, record: { resolvedSpace: string; runId: string | null; spaceHash: string }): void {
  writeJsonAtomic(join(dir, 'config.json'), { ...config, ...record, rngStreams: RNG_STREAMS, provenance: provenance(config) });
}

/** Deterministic subset of a dataset: the first n of a seeded permutation (the split is already stratified). */
export function fixedSubset(ds: Dataset, n: number, seed: number): Dataset {
  return fixedSubsetOf(ds, n, seed);
}

/** fixedSubset of a set in memory or streamed (a stream's subset is decoded later, on use). */
function fixedSubsetOf<T extends ImageSet>(ds: T, n: number, seed: number): T {
  const order = new Rng(seed).permutation(ds.labels.length);
  return subsetImages(ds, Array.from(order).slice(0, Math.min(n, ds.labels.length)));
}

/** The settings of BN recalibration: how many training images, in batches of --batch. */
export type CalibrationSettings = Pick<RunConfig, 'seed' | 'calibrationImages' | 'batch'>;

/** The config's BN-recalibration images (a fixed subset of the training split) cut into batches. */
export function calibrationBatches(p: Prepared<CalibrationSettings>): Uint8Array[] {
  const c = p.config;
  const calib = p.calibration;
  const px = p.space.input.height * p.space.input.width * p.space.input.channels;
  const batches: Uint8Array[] = [];
  for (let i = 0; i < calib.labels.length; i += c.batch) batches.push(calib.images.subarray(i * px, Math.min(calib.labels.length, i + c.batch) * px));
  return batches;
}
