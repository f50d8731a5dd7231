// The configuration of a run: every option of every stage with its default, how the CLI and a
// --config JSON file fill it, and the checks that reject unknown or contradictory settings with
// a message naming the option. docs/method.md's defaults are used unless noted.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { requireCuda } from '../native/engine.js';

export type SamplerName = 'uniform' | 'fair' | 'greedy';

export interface RunConfig {
  // what
  space: string;
  data: string;
  out: string;
  seed: number;
  threads: number;
  gpus: number;
  math: 'fp32' | 'tf32' | 'bf16';
  /** Image folders: decoded into memory, streamed from disk by worker threads, or chosen by size ('auto'). */
  dataMode: 'auto' | 'memory' | 'stream';
  /** Streamed image folders: keep the decoded, resized images in the on-disk cache and read them from there. */
  streamCache: boolean;
  // supernet training
  sampler: SamplerName;
  epochs: number;
  batch: number;
  /** Peak learning rate at `batch`. Default 0.1 at batch 128 for the few-epoch small job;
   *  the paper's ImageNet setting is 0.12 per 1024 images (configs/paper.json). */
  lr: number;
  warmupEpochs: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  labelSmoothing: number;
  /** Share of the training set held out as the validation split (stratified, fixed seed). */
  valFraction: number;
  /** Use only this many training images per class (the first of a seeded order; null = all). */
  trainPerClass: number | null;
  flip: boolean;
  checkpointEvery: number;
  /** Stop training when a step's loss is above this (null = no limit; non-finite values always stop). */
  maxLoss: number | null;
  // GreedyNAS
  m: number;
  k: number;
  /** Pool capacity; null = a size the run can fill (poolCapacityFor). */
  poolSize: number | null;
  epsMax: number;
  /** Share of the planned iterations trained with uniform paths before greedy selection starts (eps ramps from there). */
  greedyWarmup: number;
  alpha: number;
  /** false: greedy without the pool (eps = 0 ablation). */
  usePool: boolean;
  /** false: greedy without the stopping rule (runs all epochs). */
  stopping: boolean;
  /** Held-out images scoring the m paths of every round (drawn once per run); null = from the paper's cost ratio (scoringImagesFor). */
  valImages: number | null;
  redrawScoringBatch: boolean;
  /** SPOS-style FLOPs bins for the uniform sampler (0 = off). */
  flopsBins: number;
  // constraints
  flopsMax: number | null;
  paramsMax: number | null;
  latencyMax: number | null;
  // search
  searcher: 'evolution' | 'random';
  population: number;
  generations: number;
  searchImages: number;
  searchInit: 'pool' | 'random';
  /** Also run the randomly seeded search for the paper's Figure 3 comparison. */
  compareInit: boolean;
  searchBn: 'batch' | 'recalibrate';
  calibrationImages: number;
  // retraining
  retrainEpochs: number;
  retrainLr: number;
  retrainBatch: number;
  /** run: random paths of the searched path's FLOPs (+-10%) retrained the same way, for comparison (0 = none). */
  compareRandom: number;
  // export
  export: boolean;
}

/**
 * Defaults: the small job that ships, sized so that it demonstrates the method on two cores in a
 * few minutes: the fmnist-small space (6 layers x 4 ops) on data/fmnist-mini at batch 64 (84
 * iterations per epoch of the 5,400 training images, so every op is updated hundreds of times),
 * at most 20 epochs, stopped earlier by the pool rule. docs/method.md's settings for the sampler
 * (m, k, eps, alpha) with the scale-free rules for the scoring images and the pool capacity
 * (scoringImagesFor, poolCapacityFor); a lighter search than SPOS's; configs/paper.json holds the
 * paper's settings (1,000 scoring images, pool 1,000, population 50 x 20 generations, ...).
 */
export const DEFAULTS: RunConfig = {
  space: 'fmnist-small',
  data: 'fmnist-mini',
  out: 'runs/latest',
  seed: 0,
  threads: 0,
  gpus: 0,
  math: 'fp32',
  sampler: 'greedy',
  epochs: 20,
  batch: 64,
  lr: 0.1,
  warmupEpochs: 0.2,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 4e-5,
  labelSmoothing: 0.1,
  valFraction: 0.1,
  trainPerClass: null,
  flip: false,
  checkpointEvery: 100,
  maxLoss: null,
  m: 10,
  k: 5,
  poolSize: null,
  epsMax: 0.8,
  greedyWarmup: 0.2,
  alpha: 0.08,
  usePool: true,
  stopping: true,
  valImages: null,
  redrawScoringBatch: false,
  flopsBins: 0,
  dataMode: 'auto',
  streamCache: false,
  flopsMax: null,
  paramsMax: null,
  latencyMax: null,
  searcher: 'evolution',
  population: 30,
  generations: 10,
  searchImages: 300,
  searchInit: 'pool',
  compareInit: true,
  searchBn: 'batch',
  calibrationImages: 2000,
  retrainEpochs: 8,
  retrainLr: 0.1,
  retrainBatch: 128,
  compareRandom: 3,
  export: true,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Kind = 'int' | 'number' | 'string' | 'bool' | 'nullable-number';

/** Option name on the command line (kebab-case) -> config key, kind and limits. */
export const OPTION_SPECS: Record<string, { key: keyof RunConfig; kind: Kind; min?: number; max?: number; choices?: readonly string[]; help: string }> = {
  space: { key: 'space', kind: 'string', help: 'search space: a preset name (fmnist, cifar, greedynas-imagenet, ...) or a JSON file' },
  data: { key: 'data', kind: 'string', help: "dataset: 'fmnist-mini' (shipped), an IDX directory or an image-folder root" },
  out: { key: 'out', kind: 'string', help: 'run directory (config.json, log.jsonl, pool.json, checkpoints, plots)' },
  // at most 2^32 - 1: the stages add offsets to the seed, and the RNGs take safe integers only
  seed: { key: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of every random choice (weights, split, order, sampling)' },
  threads: { key: 'threads', kind: 'int', min: 0, max: 1024, help: 'CPU threads of the native engine (0 = all cores; at most 4 x the cores)' },
  gpus: { key: 'gpus', kind: 'int', min: 0, max: 64, help: 'GPUs to train on (0 = CPU; N > 1: data parallel, one path per step, batch split evenly)' },
  math: { key: 'math', kind: 'string', choices: ['fp32', 'tf32', 'bf16'], help: 'GPU arithmetic of the dense convs (tf32/bf16: tensor cores, FP32 accumulation)' },
  'data-mode': { key: 'dataMode', kind: 'string', choices: ['auto', 'memory', 'stream'], help: 'image folders: decode into memory, stream from disk (worker threads, bounded queue), or auto (stream when the decoded training set exceeds min(4 GiB, RAM/4)); batches are the same either way' },
  'stream-cache': { key: 'streamCache', kind: 'bool', help: 'streamed image folders: write the decoded, resized images once to the on-disk cache and read them from there' },
  sampler: { key: 'sampler', kind: 'string', choices: ['uniform', 'fair', 'greedy'], help: 'supernet sampler: uniform (SPOS), fair (FairNAS) or greedy (GreedyNAS)' },
  epochs: { key: 'epochs', kind: 'int', min: 1, max: 100000, help: 'supernet training epochs (the cap when the stopping rule is on)' },
  batch: { key: 'batch', kind: 'int', min: 1, max: 65536, help: 'training batch size' },
  lr: { key: 'lr', kind: 'number', min: 0, max: 100, help: 'peak learning rate (cosine schedule with warm-up)' },
  'warmup-epochs': { key: 'warmupEpochs', kind: 'number', min: 0, max: 1000, help: 'linear learning-rate warm-up, in epochs' },
  momentum: { key: 'momentum', kind: 'number', min: 0, max: 1, help: 'SGD momentum' },
  nesterov: { key: 'nesterov', kind: 'bool', help: 'Nesterov momentum' },
  'weight-decay': { key: 'weightDecay', kind: 'number', min: 0, max: 1, help: 'weight decay of conv and fc weights (none on BN and biases)' },
  'label-smoothing': { key: 'labelSmoothing', kind: 'number', min: 0, max: 1, help: 'label smoothing of the training loss' },
  'val-fraction': { key: 'valFraction', kind: 'number', min: 0.001, max: 0.5, help: 'share of each class held out of the training set for validation' },
  'train-per-class': { key: 'trainPerClass', kind: 'nullable-number', min: 1, help: 'use only this many training images per class (seeded choice; none = all)' },
  flip: { key: 'flip', kind: 'bool', help: 'random horizontal flips (off for digit/character data)' },
  'checkpoint-every': { key: 'checkpointEvery', kind: 'int', min: 1, help: 'iterations between checkpoints (also at every epoch end)' },
  'max-loss': { key: 'maxLoss', kind: 'nullable-number', min: 0, help: 'stop training (exit 1, last good checkpoint kept) when a step\'s loss is above this; none = no limit (inf/NaN losses and weights always stop)' },
  m: { key: 'm', kind: 'int', min: 1, max: 1000, help: 'GreedyNAS: paths drawn per round' },
  k: { key: 'k', kind: 'int', min: 1, max: 1000, help: 'GreedyNAS: paths kept and trained per round' },
  'pool-size': { key: 'poolSize', kind: 'nullable-number', min: 1, max: 1000000, help: 'GreedyNAS: candidate pool capacity (none = min(1000, 0.8 x iterations per epoch): a pool the run fills in about an epoch)' },
  'eps-max': { key: 'epsMax', kind: 'number', min: 0, max: 1, help: 'GreedyNAS: final probability of drawing from the pool' },
  'greedy-warmup': { key: 'greedyWarmup', kind: 'number', min: 0, max: 1, help: 'GreedyNAS: share of the planned iterations trained with uniform paths before greedy selection starts and eps starts rising' },
  alpha: { key: 'alpha', kind: 'number', min: 0, max: 1, help: 'GreedyNAS: stop when the pool turnover pi <= alpha' },
  'use-pool': { key: 'usePool', kind: 'bool', help: 'GreedyNAS: draw from the pool (false = eps 0 ablation)' },
  stopping: { key: 'stopping', kind: 'bool', help: 'GreedyNAS: stopping rule on pool turnover (false = run all epochs)' },
  'val-images': { key: 'valImages', kind: 'nullable-number', min: 1, help: 'GreedyNAS: held-out images scoring each round (none = max(250, 2 k batch / m), the paper\'s cost ratio)' },
  'redraw-scoring-batch': { key: 'redrawScoringBatch', kind: 'bool', help: 'GreedyNAS: draw a new scoring batch every round' },
  'flops-bins': { key: 'flopsBins', kind: 'int', min: 0, max: 1000, help: 'uniform sampler: SPOS FLOPs bins (0 = off)' },
  'flops-max': { key: 'flopsMax', kind: 'nullable-number', min: 1, help: 'FLOPs budget (multiply-adds), e.g. 8e6 or 8M' },
  'params-max': { key: 'paramsMax', kind: 'nullable-number', min: 1, help: 'parameter budget, e.g. 2M' },
  'latency-max': { key: 'latencyMax', kind: 'nullable-number', min: 0, help: 'latency budget in ms (predicted from the latency table)' },
  searcher: { key: 'searcher', kind: 'string', choices: ['evolution', 'random'], help: 'search method' },
  population: { key: 'population', kind: 'int', min: 2, max: 100000, help: 'search: population per generation' },
  generations: { key: 'generations', kind: 'int', min: 1, max: 100000, help: 'search: generations' },
  'search-images': { key: 'searchImages', kind: 'int', min: 1, help: 'search: held-out images scoring every candidate (the same for all)' },
  'search-init': { key: 'searchInit', kind: 'string', choices: ['pool', 'random'], help: 'search: seed the first population from the pool or randomly' },
  'compare-init': { key: 'compareInit', kind: 'bool', help: 'search: also run the other initialisation for comparison (Figure 3)' },
  'search-bn': { key: 'searchBn', kind: 'string', choices: ['batch', 'recalibrate'], help: "search: BN of scoring: 'batch' statistics or 'recalibrate' running statistics" },
  'calibration-images': { key: 'calibrationImages', kind: 'int', min: 1, help: 'search: training images for BN recalibration' },
  'retrain-epochs': { key: 'retrainEpochs', kind: 'int', min: 1, help: 'retraining epochs of the chosen path' },
  'retrain-lr': { key: 'retrainLr', kind: 'number', min: 0, max: 100, help: 'retraining peak learning rate' },
  'retrain-batch': { key: 'retrainBatch', kind: 'int', min: 1, max: 65536, help: 'retraining batch size' },
  'compare-random': { key: 'compareRandom', kind: 'int', min: 0, max: 100, help: 'run: retrain this many random paths of the searched path\'s FLOPs (+-10%) the same way and compare (0 = skip)' },
  export: { key: 'export', kind: 'bool', help: 'run: export the best path to ONNX, check parity and profile latency' },
};

/** Nullable settings that must be whole numbers when given. */
const INTEGER_KEYS = new Set<keyof RunConfig>(['trainPerClass', 'poolSize', 'valImages']);

/** "8M", "1.5G", "300k", "2e6" -> number. A sign is read too, so that "-1" is refused by the option's range ("expected >= 0"), not as "not a number". */
export function parseCount(text: string): number {
  const m = /^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kKmMgG]?)\s*$/.exec(text);
  if (!m) return Number.NaN;
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * scale;
}

function coerce(name: string, raw: unknown): unknown {
  const spec = OPTION_SPECS[name]!;
  const where = `--${name}`;
  switch (spec.kind) {
    case 'string': {
      if (typeof raw !== 'string' || raw.length === 0) throw new ConfigError(`${where}: expected a non-empty string, got ${JSON.stringify(raw)}`);
      if (spec.choices && !spec.choices.includes(raw)) throw new ConfigError(`${where}: expected one of ${spec.choices.join(', ')}, got '${raw}'`);
      return raw;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
    }
    default: {
      if (spec.kind === 'nullable-number' && (raw === null || raw === 'none')) return null;
      const v = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseCount(raw) : Number.NaN;
      if (!Number.isFinite(v)) throw new ConfigError(`${where}: expected a number, got ${JSON.stringify(raw)}`);
      if ((spec.kind === 'int' || spec.kind === 'nullable-number') && INTEGER_KEYS.has(spec.key) && !Number.isInteger(v)) throw new ConfigError(`${where}: expected an integer, got ${v}`);
      if (spec.kind === 'int' && !Number.isInteger(v)) throw new ConfigError(`${where}: expected an integer, got ${v}`);
      if (spec.min !== undefined && v < spec.min) throw new ConfigError(`${where}: expected >= ${spec.min}, got ${v}`);
      if (spec.max !== undefined && v > spec.max) throw new ConfigError(`${where}: expected <= ${spec.max}, got ${v}`);
      return v;
    }
  }
}

const KEY_TO_OPTION = new Map(Object.entries(OPTION_SPECS).map(([opt, s]) => [s.key as string, opt]));

/** The command-line name of a config key ('greedyWarmup' -> 'greedy-warmup'). */
export function optionOf(key: keyof RunConfig): string {
  return KEY_TO_OPTION.get(key) ?? key;
}

/** Keys a run's config.json records beside the settings; a --config file may hold them and they are skipped. */
const RECORD_KEYS = new Set(['comment', 'resolvedSpace', 'runId', 'spaceHash', 'provenance']);

/** Applies settings given by config key (a --config file or a saved config.json). */
export function applyObject(base: RunConfig, obj: unknown, source: string): RunConfig {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`${source}: expected a JSON object of settings`);
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (RECORD_KEYS.has(key)) continue; // free text; what a run's config.json records beside its settings (space name, run id, space hash, provenance)
    const opt = KEY_TO_OPTION.get(key) ?? (OPTION_SPECS[key] ? key : undefined);
    if (!opt) throw new ConfigError(`${source}: unknown setting '${key}'`);
    out[OPTION_SPECS[opt]!.key] = coerce(opt, value);
  }
  return out as unknown as RunConfig;
}

export function loadConfigFile(file: string, base: RunConfig): RunConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config ${file}: cannot read (${(e as Error).message})`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  return applyObject(base, obj, `--config ${file}`);
}

/** Applies command-line options given as {kebab-name: raw string | boolean}. */
export function applyOptions(base: RunConfig, options: Record<string, unknown>): RunConfig {
  const out = { ...base } as Record<string, unknown>;
  for (const [name, raw] of Object.entries(options)) {
    if (!OPTION_SPECS[name]) throw new ConfigError(`unknown option --${name}`);
    out[OPTION_SPECS[name]!.key] = coerce(name, raw);
  }
  return out as unknown as RunConfig;
}

/** Contradictions between settings. */
export function checkConfig(c: RunConfig): RunConfig {
  const cores = availableParallelism();
  if (c.threads > 4 * cores) {
    // Far more threads than cores only slows the engine down (each step waits for its slowest thread).
    throw new ConfigError(`--threads ${c.threads}: at most 4 x the ${cores} cores of this machine (${4 * cores}); use --threads 0 for one per core`);
  }
  if (c.k > c.m) throw new ConfigError(`--k ${c.k} cannot exceed --m ${c.m} (keep k of the m paths drawn)`);
  if (c.sampler === 'fair' && (c.flopsMax !== null || c.paramsMax !== null || c.latencyMax !== null)) {
    throw new ConfigError('--sampler fair trains every choice of every layer each step and cannot honour a FLOPs/params/latency budget during training; drop the budget here and apply it in `search`');
  }
  if (c.sampler !== 'greedy' && c.searchInit === 'pool') {
    // Baselines have no candidate pool: their search starts from random paths.
    c = { ...c, searchInit: 'random' };
  }
  if (c.flopsBins > 0 && c.sampler !== 'uniform') throw new ConfigError('--flops-bins applies to --sampler uniform only');
  if (c.gpus > 0) {
    try {
      requireCuda(c.gpus);
    } catch (e) {
      throw new ConfigError(`--gpus ${c.gpus}: ${(e as Error).message}; run on CPU with --gpus 0`);
    }
    for (const [flag, b] of [['--batch', c.batch], ['--retrain-batch', c.retrainBatch]] as const) {
      if (b % c.gpus !== 0) throw new ConfigError(`${flag} ${b} does not split evenly over --gpus ${c.gpus}: use a multiple of ${c.gpus}`);
    }
  } else if (c.math !== 'fp32') {
    throw new ConfigError(`--math ${c.math} applies to GPU runs only (--gpus N)`);
  }
  return c;
}

/**
 * Held-out images that score the m paths of a round when --val-images is not given: the paper
 * spends about two scored images per trained image (m x 1,000 scored : k x 1,024 trained = 1.95),
 * so m x images = 2 x k x batch, but never fewer than 250 images (below that a path's loss on the
 * batch is too noisy to rank paths that differ by a point of accuracy).
 */
export function scoringImagesFor(c: Pick<RunConfig, 'valImages' | 'm' | 'k' | 'batch'>): number {
  return c.valImages ?? Math.max(250, Math.round((2 * c.k * c.batch) / c.m));
}

/**
 * Pool capacity when --pool-size is not given: min(1000, max(k, floor(0.8 x iterations per epoch))).
 * A greedy epoch keeps one path per iteration; the pool must fill within about one epoch of the
 * greedy phase even when a fifth of the kept paths are re-draws of pool paths, so that the
 * stopping rule measures turnover of a full pool. At the paper's scale (1,251 iterations per
 * epoch at batch 1,024 on ImageNet) this gives the paper's 1,000.
 */
export function poolCapacityFor(c: Pick<RunConfig, 'poolSize' | 'k'>, batchesPerEpoch: number): number {
  return c.poolSize ?? Math.min(1000, Math.max(c.k, Math.floor(0.8 * batchesPerEpoch)));
}
