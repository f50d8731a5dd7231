// Which latency estimate a latency budget (--latency-max) uses, decided on held-out paths.
//
// Three estimates compete, all for batch 1, 1 intra-op thread, onnxruntime CPU on this machine:
//   table   the lookup table's sum of pieces (src/profile/latency-table.ts)
//   flops   a + b * FLOPs, fitted by least squares on the training paths (ranks exactly as FLOPs
//           do; the table's FLOPs-proportional estimate, fitted on the pieces instead, is scored
//           too, as `flopsFromPieces`, since it is the one the table was first compared with)
//   fitted  a linear model of path features fitted on the training paths (src/profile/latency-fit.ts)
// Training and held-out paths are drawn from disjoint seeds, measured as whole models in one
// interleaved measurement (every round visits every path in a new shuffled order, so a burst of
// load from other processes hits all of them alike), CPU time per run; a path's latency is the
// median, lower decile or minimum of its runs, whichever agrees best with itself between halves
// of the rounds on the training paths. Of the estimates whose held-out MAPE is no worse than the
// FLOPs line's, the one of highest held-out Spearman wins (equal Spearman: lower MAPE); that
// choice and the scores of all three are cached next to the table and reported in the log and
// results.json.
//
// Cost: a whole ImageNet-size path takes ~6-10 ms a run, so the default 40 training + 30 held-out
// paths at 60 runs each are ~40 s of compute once per (space, machine), the table about as much;
// on a 2-core machine shared at load average ~20 that took 5-7 minutes of wall time.
import { readFile } from 'node:fs/promises';
import { writeBytes } from '../export/onnx.js';
import { costTable } from '../space/cost.js';
import { archKey, type Arch, type ResolvedSpace } from '../space/types.js';
import { spearman } from '../analysis/rank-stats.js';
import { FeatureTable, fitLatencyModel, predictLinear, leastSquares, type FittedLatencyModel } from './latency-fit.js';
import {
  flopsEstimate,
  latencyConstraint,
  latencyTable,
  measurePathSamples,
  randomArchs,
  score,
  STATISTICS,
  type LatencyPredictor,
  type MeasureStatistic,
  type LatencyTableOptions,
  type MeasureOptions,
  type ProxyScore,
} from './latency-table.js';

export const LATENCY_CHOICE_FORMAT = 'greedynas-latency-choice/1';

export type LatencyMethod = 'table' | 'flops' | 'fitted';

export interface ChoiceOptions extends MeasureOptions {
  /** Training paths for the fitted model and the FLOPs fit (default 40). */
  trainPaths?: number;
  /** Held-out paths the estimates are judged on (default 30). */
  heldOutPaths?: number;
  /** Seed of the training paths; held-out paths use pathSeed + 1 (default 9173). */
  pathSeed?: number;
}

export interface LatencyChoiceData {
  format: typeof LATENCY_CHOICE_FORMAT;
  /** The table this choice was made with (its createdAt): a rebuilt table invalidates the choice. */
  tableCreatedAt: string;
  date: string;
  settings: { trainPaths: number; heldOutPaths: number; pathSeed: number; warmup: number; runs: number; rounds: number; clock: 'cpu' | 'wall' };
  /** The winner and why. */
  method: LatencyMethod;
  reason: string;
  /** Held-out scores. */
  heldOut: Record<LatencyMethod | 'flopsFromPieces', ProxyScore>;
  /**
   * How a path's latency is taken from its samples (chosen on the training paths) and how well
   * that measurement agrees with itself between halves of the rounds (Spearman over paths).
   */
  measurement: { statistic: MeasureStatistic; splitHalfSpearman: { training: Partial<Record<MeasureStatistic, number>>; heldOut: number } };
  /** Leave-one-out scores on the training paths are in model.candidates. */
  model: FittedLatencyModel;
  /** a + b * FLOPs fitted on the training paths (ms, FLOPs). */
  flopsFit: { intercept: number; msPerFlop: number };
  /** Measured medians (ms). */
  training: Array<{ arch: string; measuredMs: number }>;
  samples: Array<{ arch: string; measuredMs: number; tableMs: number; flopsMs: number; fittedMs: number; flops: number }>;
}

/** Paths of distinct keys from a seed, none of them in `exclude`. */
function distinctArchs(space: ResolvedSpace, n: number, seed: number, exclude: Set<string>): Arch[] {
  const out: Arch[] = [];
  const seen = new Set(exclude);
  for (let batch = 0; out.length < n && batch < 50; batch++) {
    for (const a of randomArchs(space, n, seed + 7919 * batch)) {
      const k = archKey(a);
      if (out.length < n && !seen.has(k)) {
        seen.add(k);
        out.push(a);
      }
    }
  }
  if (out.length < n) throw new RangeError(`the space '${space.name}' has fewer than ${n} distinct paths outside the training set`);
  return out;
}

/**
 * Splits each path's samples into its even and odd rounds and returns the Spearman correlation
 * between the statistic of the two halves over the paths: how well a measurement ranks the paths
 * the same way twice. Rounds are interleaved over the whole measurement, so a burst of load from
 * other processes lands in one half only.
 */
export function splitHalfSpearman(samples: ReadonlyArray<readonly number[]>, rounds: number, stat: (xs: readonly number[]) => number): number {
  const halves = samples.map((xs) => {
    const per = xs.length / rounds;
    const a: number[] = [];
    const b: number[] = [];
    xs.forEach((x, i) => (Math.floor(i / per) % 2 === 0 ? a : b).push(x));
    return [stat(a), stat(b)] as const;
  });
  return spearman(
    halves.map((h) => h[0]),
    halves.map((h) => h[1]),
  );
}

/**
 * The statistic whose measurement of the training paths agrees best with itself across halves of
 * the rounds (on a quiet machine the median; under load a low quantile often holds up better, as
 * loaded runs are slowed, never sped up). Also reports that agreement on the held-out paths: a
 * ceiling for the held-out Spearman any estimate can reach against measurements this noisy.
 */
function chooseStatistic(train: number[][], held: number[][], o: { rounds: number }): LatencyChoiceData['measurement'] {
  if (o.rounds < 2) return { statistic: 'median', splitHalfSpearman: { training: {}, heldOut: Number.NaN } };
  const training: Partial<Record<MeasureStatistic, number>> = {};
  for (const k of Object.keys(STATISTICS) as MeasureStatistic[]) training[k] = splitHalfSpearman(train, o.rounds, STATISTICS[k]);
  const statistic = (Object.keys(training) as MeasureStatistic[]).reduce((a, b) => (training[b]! > training[a]! ? b : a));
  return { statistic, splitHalfSpearman: { training, heldOut: splitHalfSpearman(held, o.rounds, STATISTICS[statistic]) } };
}

/**
 * The FLOPs line is the baseline. Another estimate qualifies when its held-out MAPE is no worse
 * than the FLOPs line's (a budget in ms needs absolute accuracy, not only ranks); the qualifying
 * estimate (FLOPs included) of highest held-out Spearman wins, equal Spearman (to 1e-9) going to
 * the lower MAPE.
 */
export function pickMethod(heldOut: Record<LatencyMethod, ProxyScore>): { method: LatencyMethod; reason: string } {
  const methods: LatencyMethod[] = ['fitted', 'table', 'flops'];
  const qualified = methods.filter((m) => heldOut[m].mape <= heldOut.flops.mape);
  const best = qualified.reduce((a, b) => {
    const d = heldOut[b].spearman - heldOut[a].spearman;
    return d > 1e-9 || (Math.abs(d) <= 1e-9 && heldOut[b].mape < heldOut[a].mape) ? b : a;
  });
  const s = (m: LatencyMethod) => `${m} Spearman ${heldOut[m].spearman.toFixed(3)} MAPE ${heldOut[m].mape.toFixed(1)}%`;
  const out = methods.filter((m) => !qualified.includes(m));
  return {
    method: best,
    reason: `highest held-out Spearman among estimates with MAPE no worse than the FLOPs line's (${methods.map(s).join('; ')}${out.length ? `; MAPE above FLOPs: ${out.join(', ')}` : ''})`,
  };
}

/** Measures training and held-out paths, fits, scores the three estimates and picks one. */
export async function chooseLatencyMethod(pred: LatencyPredictor, opts: ChoiceOptions = {}): Promise<LatencyChoiceData> {
  const space = pred.space;
  const nTrain = opts.trainPaths ?? 40;
  const nHeld = opts.heldOutPaths ?? 30;
  const pathSeed = opts.pathSeed ?? 9173;
  for (const [k, v, min] of [['trainPaths', nTrain, 10], ['heldOutPaths', nHeld, 3], ['pathSeed', pathSeed, 0]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${k}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  const train = distinctArchs(space, nTrain, pathSeed, new Set());
  const held = distinctArchs(space, nHeld, pathSeed + 1, new Set(train.map(archKey)));
  opts.log?.(`latency estimates of '${space.name}': timing ${nTrain} training + ${nHeld} held-out whole paths, interleaved`);
  const o = { warmup: opts.warmup ?? 10, runs: opts.runs ?? 60, rounds: opts.rounds ?? 6, clock: opts.clock ?? pred.table.settings.clock };
  const samples = await measurePathSamples(space, [...train, ...held], { ...opts, ...o });
  const measurement = chooseStatistic(samples.slice(0, nTrain), samples.slice(nTrain), o);
  const ms = samples.map(STATISTICS[measurement.statistic]);
  const yTrain = ms.slice(0, nTrain);
  const yHeld = ms.slice(nTrain);

  const features = new FeatureTable(space, pred.table.opsMs);
  const cost = costTable(space);
  const model = fitLatencyModel(
    train.map((a, i) => ({ f: features.of(a), ms: yTrain[i]! })),
    true,
  );
  const lf = leastSquares(
    train.map((a) => [cost.archFlops(a)]),
    yTrain,
  );
  const flopsFit = { intercept: lf.intercept, msPerFlop: lf.coef[0]! };
  const pieces = flopsEstimate(space, pred.table);

  const tableMs = held.map((a) => pred.predictLatency(a));
  const flops = held.map((a) => cost.archFlops(a));
  const flopsMs = flops.map((f) => flopsFit.intercept + flopsFit.msPerFlop * f);
  const fittedMs = held.map((a) => predictLinear(model, features.of(a)));
  const heldOut = {
    table: score(tableMs, yHeld),
    flops: score(flopsMs, yHeld),
    fitted: score(fittedMs, yHeld),
    flopsFromPieces: score(
      flops.map((f) => pieces.once + pieces.msPerFlop * f),
      yHeld,
    ),
  };
  return {
    format: LATENCY_CHOICE_FORMAT,
    tableCreatedAt: pred.table.createdAt,
    date: new Date().toISOString(),
    settings: { trainPaths: nTrain, heldOutPaths: nHeld, pathSeed, ...o },
    ...pickMethod(heldOut),
    heldOut,
    measurement,
    model,
    flopsFit,
    training: train.map((a, i) => ({ arch: archKey(a), measuredMs: yTrain[i]! })),
    samples: held.map((a, i) => ({ arch: archKey(a), measuredMs: yHeld[i]!, tableMs: tableMs[i]!, flopsMs: flopsMs[i]!, fittedMs: fittedMs[i]!, flops: flops[i]! })),
  };
}

/** The estimate a latency budget uses: predicts ms of a path and serves as a search constraint. */
export class LatencyEstimator {
  private readonly features: FeatureTable;
  private readonly cost;
  constructor(
    readonly table: LatencyPredictor,
    readonly choice: LatencyChoiceData,
    /** Where the choice is cached (undefined when never saved). */
    readonly path?: string,
  ) {
    this.features = new FeatureTable(table.space, table.table.opsMs);
    this.cost = costTable(table.space);
  }

  get method(): LatencyMethod {
    return this.choice.method;
  }

  /** Predicted latency of a path, ms, by the chosen method. */
  readonly predictLatency = (arch: readonly number[]): number => {
    switch (this.choice.method) {
      case 'table':
        return this.table.predictLatency(arch);
      case 'flops':
        return this.choice.flopsFit.intercept + this.choice.flopsFit.msPerFlop * this.cost.archFlops(arch);
      case 'fitted':
        return predictLinear(this.choice.model, this.features.of(arch));
    }
  };

  /** A hook for samplers and searchers (`--latency-max MS`): true when the path fits. */
  constraint(maxMs: number): (arch: readonly number[]) => boolean {
    return latencyConstraint(this.predictLatency, maxMs);
  }

  /** What results.json records about the estimate. */
  summary(): Record<string, unknown> {
    const c = this.choice;
    return {
      method: c.method,
      reason: c.reason,
      heldOut: c.heldOut,
      ...(c.method === 'fitted' ? { features: c.model.features, featureSet: c.model.name } : {}),
      settings: c.settings,
      tableFile: this.table.path ?? null,
      choiceFile: this.path ?? null,
    };
  }
}

/** The table (cached) and the choice of estimate (cached beside it: `<table>.choice.json`). */
export async function latencyEstimator(space: ResolvedSpace, opts: LatencyTableOptions & ChoiceOptions = {}): Promise<LatencyEstimator> {
  // the table's pieces by their lower decile: under load it ranks far more consistently than the
  // median (see the split-half agreement in the choice), and loaded runs are only ever slower
  const table = await latencyTable(space, { ...opts, statistic: opts.statistic ?? 'p10' });
  const path = table.path === undefined ? undefined : table.path.replace(/\.json$/, '.choice.json');
  if (path !== undefined && !opts.rebuild) {
    let data: LatencyChoiceData | undefined;
    try {
      data = JSON.parse(await readFile(path, 'utf8')) as LatencyChoiceData;
    } catch {
      data = undefined;
    }
    if (data?.format === LATENCY_CHOICE_FORMAT && data.tableCreatedAt === table.table.createdAt) {
      opts.log?.(`latency estimate of '${space.name}' from ${path}`);
      return new LatencyEstimator(table, data, path);
    }
  }
  const choice = await chooseLatencyMethod(table, opts);
  if (path !== undefined) await writeBytes(path, `${JSON.stringify(choice, null, 1)}\n`, 'latency estimate choice');
  return new LatencyEstimator(table, choice, path);
}

export function formatChoice(c: LatencyChoiceData): string {
  const ms = c.samples.map((s) => s.measuredMs);
  const row = (name: string, s: ProxyScore): string => `${name.padEnd(34)} ${s.pearson.toFixed(3).padStart(8)} ${s.spearman.toFixed(3).padStart(9)} ${s.mape.toFixed(1).padStart(7)}%`;
  return [
    `${c.settings.heldOutPaths} held-out paths (seed ${c.settings.pathSeed + 1}; measured ${Math.min(...ms).toFixed(3)}-${Math.max(...ms).toFixed(3)} ms ${c.settings.clock} time, batch 1, 1 thread), fits on ${c.settings.trainPaths} training paths (seed ${c.settings.pathSeed})`,
    `${'estimate'.padEnd(34)} ${'pearson'.padStart(8)} ${'spearman'.padStart(9)} ${'MAPE'.padStart(8)}`,
    row(`fitted (${c.model.name})`, c.heldOut.fitted),
    row('lookup table (sum of pieces)', c.heldOut.table),
    row('FLOPs, affine fit on training paths', c.heldOut.flops),
    row('FLOPs x ms/FLOP of the pieces', c.heldOut.flopsFromPieces),
    `measurement: ${c.measurement.statistic} of each path's runs; agreement of halves of the rounds (Spearman): training ${Object.entries(c.measurement.splitHalfSpearman.training)
      .map(([k, v]) => `${k} ${v!.toFixed(3)}`)
      .join(', ')}; held-out ${c.measurement.statistic} ${c.measurement.splitHalfSpearman.heldOut.toFixed(3)}`,
    `fitted model candidates (leave-one-out MAPE on training): ${c.model.candidates.map((m) => `${m.name} ${m.looMape.toFixed(2)}%`).join(', ')}`,
    `chosen for --latency-max: ${c.method} (${c.reason})`,
  ].join('\n');
}
