// The configuration of a run: every setting of every stage with its default and its limits, how a
// JSON object of settings (a --config file, a run's config.json) fills it, and the checks that
// reject unknown or contradictory settings with a message naming the setting by its command-line
// name (`--greedy-warmup`, the key in kebab case). docs/method.md's defaults are used unless
// noted. What the CLI says about each option (its help text) is the CLI's (src/cli/options.ts);
// each stage reads only the settings its own type names (e.g. SupernetTrainingSettings).
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
  /** Arithmetic of the convs when scoring paths (greedy rounds, search): see EngineOptions.scoreMath. */
  scoreMath: 'fp32' | 'bf16' | 'auto';
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
  scoreMath: 'auto',
  dataMode: 'auto',
  streamCache: false,
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

/** What a setting accepts. `integer`: a nullable number that must be whole when given. */
export interface SettingRule {
  kind: Kind;
  integer?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

/** Every setting's kind and limits, by config key (the type makes the table complete). */
export const SETTING_RULES: { readonly [K in keyof RunConfig]: SettingRule } = {
  space: { kind: 'string' },
  data: { kind: 'string' },
  out: { kind: 'string' },
  // at most 2^32 - 1: the stages add offsets to the seed, and the RNGs take safe integers only
  seed: { kind: 'int', min: 0, max: 2 ** 32 - 1 },
  threads: { kind: 'int', min: 0, max: 1024 },
  gpus: { kind: 'int', min: 0, max: 64 },
  math: { kind: 'string', choices: ['fp32', 'tf32', 'bf16'] },
  scoreMath: { kind: 'string', choices: ['fp32', 'bf16', 'auto'] },
  dataMode: { kind: 'string', choices: ['auto', 'memory', 'stream'] },
  streamCache: { kind: 'bool' },
  sampler: { kind: 'string', choices: ['uniform', 'fair', 'greedy'] },
  epochs: { kind: 'int', min: 1, max: 100000 },
  batch: { kind: 'int', min: 1, max: 65536 },
  lr: { kind: 'number', min: 0, max: 100 },
  warmupEpochs: { kind: 'number', min: 0, max: 1000 },
  momentum: { kind: 'number', min: 0, max: 1 },
  nesterov: { kind: 'bool' },
  weightDecay: { kind: 'number', min: 0, max: 1 },
  labelSmoothing: { kind: 'number', min: 0, max: 1 },
  valFraction: { kind: 'number', min: 0.001, max: 0.5 },
  trainPerClass: { kind: 'nullable-number', integer: true, min: 1 },
  flip: { kind: 'bool' },
  checkpointEvery: { kind: 'int', min: 1 },
  maxLoss: { kind: 'nullable-number', min: 0 },
  m: { kind: 'int', min: 1, max: 1000 },
  k: { kind: 'int', min: 1, max: 1000 },
  poolSize: { kind: 'nullable-number', integer: true, min: 1, max: 1000000 },
  epsMax: { kind: 'number', min: 0, max: 1 },
  greedyWarmup: { kind: 'number', min: 0, max: 1 },
  alpha: { kind: 'number', min: 0, max: 1 },
  usePool: { kind: 'bool' },
  stopping: { kind: 'bool' },
  valImages: { kind: 'nullable-number', integer: true, min: 1 },
  redrawScoringBatch: { kind: 'bool' },
  flopsBins: { kind: 'int', min: 0, max: 1000 },
  flopsMax: { kind: 'nullable-number', min: 1 },
  paramsMax: { kind: 'nullable-number', min: 1 },
  latencyMax: { kind: 'nullable-number', min: 0 },
  searcher: { kind: 'string', choices: ['evolution', 'random'] },
  population: { kind: 'int', min: 2, max: 100000 },
  generations: { kind: 'int', min: 1, max: 100000 },
  searchImages: { kind: 'int', min: 1 },
  searchInit: { kind: 'string', choices: ['pool', 'random'] },
  compareInit: { kind: 'bool' },
  searchBn: { kind: 'string', choices: ['batch', 'recalibrate'] },
  calibrationImages: { kind: 'int', min: 1 },
  retrainEpochs: { kind: 'int', min: 1 },
  retrainLr: { kind: 'number', min: 0, max: 100 },
  retrainBatch: { kind: 'int', min: 1, max: 65536 },
  compareRandom: { kind: 'int', min: 0, max: 100 },
  export: { kind: 'bool' },
};

/** The command-line name of a config key: the key in kebab case ('greedyWarmup' -> 'greedy-warmup'). */
export function optionOf(key: keyof RunConfig): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const SETTING_KEYS = Object.keys(SETTING_RULES) as Array<keyof RunConfig>;
const OPTION_TO_KEY = new Map(SETTING_KEYS.map((k) => [optionOf(k), k]));
const KEYS = new Set<string>(SETTING_KEYS);

/** The config key of a command-line name ('greedy-warmup' -> 'greedyWarmup'); undefined for no setting. */
export function settingOfOption(option: string): keyof RunConfig | undefined {
  return OPTION_TO_KEY.get(option);
}

/** "8M", "1.5G", "300k", "2e6" -> number. A sign is read too, so that "-1" is refused by the option's range ("expected >= 0"), not as "not a number". */
export function parseCount(text: string): number {
  const m = /^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kKmMgG]?)\s*$/.exec(text);
  if (!m) return Number.NaN;
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * scale;
}

/** A raw value (a command-line string, or a JSON value) as the setting `key` takes it, checked against its rule. */
export function coerceSetting(key: keyof RunConfig, raw: unknown): unknown {
  const rule = SETTING_RULES[key];
  const where = `--${optionOf(key)}`;
  switch (rule.kind) {
    case 'string': {
      if (typeof raw !== 'string' || raw.length === 0) throw new ConfigError(`${where}: expected a non-empty string, got ${JSON.stringify(raw)}`);
      if (rule.choices && !rule.choices.includes(raw)) throw new ConfigError(`${where}: expected one of ${rule.choices.join(', ')}, got '${raw}'`);
      return raw;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
    }
    default: {
      if (rule.kind === 'nullable-number' && (raw === null || raw === 'none')) return null;
      const v = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseCount(raw) : Number.NaN;
      if (!Number.isFinite(v)) throw new ConfigError(`${where}: expected a number, got ${JSON.stringify(raw)}`);
      if ((rule.kind === 'int' || rule.integer) && !Number.isInteger(v)) throw new ConfigError(`${where}: expected an integer, got ${v}`);
      if (rule.min !== undefined && v < rule.min) throw new ConfigError(`${where}: expected >= ${rule.min}, got ${v}`);
      if (rule.max !== undefined && v > rule.max) throw new ConfigError(`${where}: expected <= ${rule.max}, got ${v}`);
      return v;
    }
  }
}

/** Keys a run's config.json records beside the settings; a --config file may hold them and they are skipped. */
const RECORD_KEYS = new Set(['comment', 'resolvedSpace', 'runId', 'spaceHash', 'rngStreams', 'provenance']);

/** Applies settings given by config key or command-line name (a --config file or a saved config.json). */
export function applyObject(base: RunConfig, obj: unknown, source: string): RunConfig {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`${source}: expected a JSON object of settings`);
  const out = { ...base } as Record<string, unknown>;
  for (const [name, value] of Object.entries(obj)) {
    if (RECORD_KEYS.has(name)) continue; // free text; what a run's config.json records beside its settings (space name, run id, space hash, provenance)
    const key = KEYS.has(name) ? (name as keyof RunConfig) : settingOfOption(name);
    if (!key) throw new ConfigError(`${source}: unknown setting '${name}'`);
    out[key] = coerceSetting(key, value);
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

/** The settings that size the scoring batch of greedy rounds. */
export type ScoringImageSettings = Pick<RunConfig, 'valImages' | 'm' | 'k' | 'batch'>;

/**
 * Held-out images that score the m paths of a round when --val-images is not given: the paper
 * spends about two scored images per trained image (m x 1,000 scored : k x 1,024 trained = 1.95),
 * so m x images = 2 x k x batch, but never fewer than 250 images (below that a path's loss on the
 * batch is too noisy to rank paths that differ by a point of accuracy).
 */
export function scoringImagesFor(c: ScoringImageSettings): number {
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
