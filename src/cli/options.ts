// The CLI's option table: every run setting as a command-line option (`--greedy-warmup`, the
// config key in kebab case, src/pipeline/config.ts) with the help text its command's --help
// shows, and how command-line values and a --config file fill a configuration. The kinds and
// limits of the settings, and their checks, are the configuration's (src/pipeline/config.ts),
// shared with a run's config.json and the library.
import { readFileSync } from 'node:fs';

import { applyObject, coerceSetting, ConfigError, optionOf, SETTING_RULES, settingOfOption, type RunConfig } from '../pipeline/config.js';

/** The help text of every setting, by config key (the type makes the table complete). */
export const OPTION_HELP: { readonly [K in keyof RunConfig]: string } = {
  space: 'search space: a preset name (fmnist, cifar, greedynas-imagenet, ...) or a JSON file',
  data: "dataset: 'fmnist-mini' (shipped), an IDX directory or an image-folder root",
  out: 'run directory (config.json, log.jsonl, pool.json, checkpoints, plots)',
  seed: 'seed of every random choice (weights, split, order, sampling)',
  threads: 'CPU threads of the native engine (0 = all cores; at most 4 x the cores)',
  gpus: 'GPUs to train on (0 = CPU; N > 1: data parallel, one path per step, batch split evenly)',
  math: 'GPU arithmetic of the dense convs (tf32/bf16: tensor cores, FP32 accumulation)',
  scoreMath: 'arithmetic when scoring paths (greedy rounds, search): bf16/auto = bfloat16 products and bfloat16-stored activations on CPUs with AVX512-BF16, FP32 elsewhere; training is always FP32',
  dataMode: 'image folders: decode into memory, stream from disk (worker threads, bounded queue), or auto (stream when the decoded training set exceeds min(4 GiB, RAM/4)); batches are the same either way',
  streamCache: 'streamed image folders: write the decoded, resized images once to the on-disk cache and read them from there',
  sampler: 'supernet sampler: uniform (SPOS), fair (FairNAS) or greedy (GreedyNAS)',
  epochs: 'supernet training epochs (the cap when the stopping rule is on)',
  batch: 'training batch size',
  lr: 'peak learning rate (cosine schedule with warm-up)',
  warmupEpochs: 'linear learning-rate warm-up, in epochs',
  momentum: 'SGD momentum',
  nesterov: 'Nesterov momentum',
  weightDecay: 'weight decay of conv and fc weights (none on BN and biases)',
  labelSmoothing: 'label smoothing of the training loss',
  valFraction: 'share of each class held out of the training set for validation',
  trainPerClass: 'use only this many training images per class (seeded choice; none = all)',
  flip: 'random horizontal flips (off for digit/character data)',
  checkpointEvery: 'iterations between checkpoints (also at every epoch end)',
  maxLoss: "stop training (exit 1, last good checkpoint kept) when a step's loss is above this; none = no limit (inf/NaN losses and weights always stop)",
  m: 'GreedyNAS: paths drawn per round',
  k: 'GreedyNAS: paths kept and trained per round',
  poolSize: 'GreedyNAS: candidate pool capacity (none = min(1000, 0.8 x iterations per epoch): a pool the run fills in about an epoch)',
  epsMax: 'GreedyNAS: final probability of drawing from the pool',
  greedyWarmup: 'GreedyNAS: share of the planned iterations trained with uniform paths before greedy selection starts and eps starts rising',
  alpha: 'GreedyNAS: stop when the pool turnover pi <= alpha',
  usePool: 'GreedyNAS: draw from the pool (false = eps 0 ablation)',
  stopping: 'GreedyNAS: stopping rule on pool turnover (false = run all epochs)',
  valImages: "GreedyNAS: held-out images scoring each round (none = max(250, 2 k batch / m), the paper's cost ratio)",
  redrawScoringBatch: 'GreedyNAS: draw a new scoring batch every round',
  flopsBins: 'uniform sampler: SPOS FLOPs bins (0 = off)',
  flopsMax: 'FLOPs budget (multiply-adds), e.g. 8e6 or 8M',
  paramsMax: 'parameter budget, e.g. 2M',
  latencyMax: 'latency budget in ms, batch 1 on this machine (predicted by the estimate that ranked held-out paths best: lookup table, FLOPs line or fitted model; see docs/latency.md)',
  searcher: 'search method',
  population: 'search: population per generation',
  generations: 'search: generations',
  searchImages: 'search: held-out images scoring every candidate (the same for all)',
  searchInit: 'search: seed the first population from the pool or randomly',
  compareInit: 'search: also run the other initialisation for comparison (Figure 3)',
  searchBn: "search: BN of scoring: 'batch' statistics or 'recalibrate' running statistics",
  calibrationImages: 'search: training images for BN recalibration',
  retrainEpochs: 'retraining epochs of the chosen path',
  retrainLr: 'retraining peak learning rate',
  retrainBatch: 'retraining batch size',
  compareRandom: "run: retrain this many random paths of the searched path's FLOPs (+-10%) the same way and compare (0 = skip)",
  export: 'run: export the best path to ONNX, check parity and profile latency',
};

/** Every run setting's command-line name. */
export const OPTION_NAMES: readonly string[] = (Object.keys(OPTION_HELP) as Array<keyof RunConfig>).map(optionOf);

/** A boolean setting: given bare (--flip) or negated (--no-flip). */
export function isSwitchOption(option: string): boolean {
  const key = settingOfOption(option);
  return key !== undefined && SETTING_RULES[key].kind === 'bool';
}

/** Applies command-line options given as {kebab-name: raw string | boolean}. */
export function applyOptions(base: RunConfig, options: Record<string, unknown>): RunConfig {
  const out = { ...base } as Record<string, unknown>;
  for (const [name, raw] of Object.entries(options)) {
    const key = settingOfOption(name);
    if (!key) throw new ConfigError(`unknown option --${name}`);
    out[key] = coerceSetting(key, raw);
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
