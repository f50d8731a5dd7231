// Latency lookup table of a search space on this machine (onnxruntime CPU, batch 1, 1 intra-op
// thread): every (layer, op) block and the two fixed parts (prefix = stem + fixed blocks, suffix =
// head + pooling + classifier) are exported as small ONNX graphs with random weights and timed
// one by one; a path's latency is predicted as prefix + sum of its blocks + suffix.
//
// One session run costs a fixed overhead (the call, the output copy) that the whole model pays
// once but every separately timed piece pays again. Per piece it is estimated as the run time of
// an Identity graph of the piece's output shape, and taken off. Two more effects separate pieces
// timed alone from the same ops inside a whole model: a per-run cost the Identity graphs do not
// show (a few microseconds a piece here, which matters for small models) and caches (a piece
// timed alone keeps its weights and activations hot; ImageNet-size whole paths ran 5-10% slower
// than the sum of their pieces here). Both are fitted on a few whole models of calibration paths,
// timed together with the pieces: measured = scale * (sum of pieces net of Identity runs)
// - pieceOverhead * (pieces paying a run overhead) + the one run overhead of the whole model,
// with scale = 1, pieceOverhead = 0 or both free, whichever predicts the left-out calibration
// path best (the two terms are close to collinear). The table's entries hold the result, so a
// path's prediction is still a plain sum. The calibration paths are not the validation paths.
//
// Noise: the build machines have 2 cores shared by several engineers. Each entry is timed in
// several rounds spread over the whole measurement (pieces interleaved in a shuffled order per
// round), after warm-up, and the median of all its samples is kept (or, with `statistic`, the
// lower decile or the minimum: the table behind --latency-max uses the lower decile, which ranks
// paths far more consistently under load; see docs/latency.md). By default each run is timed
// by the CPU time the process spent in it, not by the wall clock: with one intra-op thread that is
// the run's compute time, while under load the wall time of a long run (a whole ImageNet-size
// model, ~9 ms) also holds the slices the scheduler gave to other processes and short pieces
// (~0.1 ms) mostly escape them; measured at load average 10 on 2 cores, a whole path took 20.8 ms
// wall but 8.8 ms CPU, and the sum of its pieces 8.8 ms either way. On a quiet machine the two
// clocks agree; `clock: 'wall'` measures wall time.
//
// validateLatencyTable() measures whole models of random paths and reports Pearson and Spearman
// correlation and mean absolute percentage error of the table's prediction, next to a FLOPs-
// proportional estimate fitted on the same piece measurements (ms = c * FLOPs, c by least squares
// over the pieces, plus the same once-per-run overhead), and the best affine fit of FLOPs to the
// measured paths themselves (in-sample; a bound for any linear FLOPs proxy). Because the load of a
// shared machine changes between building the table and validating it, the table's calibration
// paths are timed again among the validation paths; their slow-down (loadFactor) is reported, with
// the scores of both estimates scaled by it, and a warning when it is off 1 by more than 15%.
//
// Tables are cached as JSON under a cache folder (default .cache/latency), one file per (space
// hash, cpu model, onnxruntime version, provider, batch, threads, clock).
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildIdentityModel, buildSegmentModel, checkArch, randomTensorSource, serializeModel, segmentShapes, writeBytes, type Segment } from '../export/onnx.js';
import { costTable } from '../space/cost.js';
import { archKey, parseArchKey, type Arch, type ResolvedSpace } from '../space/types.js';
import { pearson, spearman } from '../analysis/rank-stats.js';
import { Rng } from '../util/rng.js';
import type { OrtSession, OrtTensor } from '../util/onnxruntime.js';
import { createSession, machineInfo, quantile, randomInput, timeSession } from './latency.js';

export const LATENCY_TABLE_FORMAT = 'greedynas-latency-table/1';

export interface LatencyTableKey {
  /** sha256 of the resolved space (first 16 hex digits). */
  spaceHash: string;
  space: string;
  cpu: string;
  onnxruntime: string;
  provider: 'cpu';
  batch: 1;
  threads: 1;
  clock: 'cpu' | 'wall';
}

export interface LatencyTableData {
  format: typeof LATENCY_TABLE_FORMAT;
  key: LatencyTableKey;
  createdAt: string;
  settings: { warmup: number; runs: number; rounds: number; statistic: MeasureStatistic; clock: 'cpu' | 'wall' };
  /** Stem + fixed blocks, overhead taken off (ms). */
  prefixMs: number;
  /** Head + pooling + classifier, including the once-per-run overhead (ms). */
  suffixMs: number;
  /** opsMs[l][j]: block j of searchable layer l, overhead taken off (ms); 0 for a parameter-free skip. */
  opsMs: number[][];
  /** Median run time of Identity graphs per output shape ("CxHxW"), taken off the entries. */
  overheadMs: Record<string, number>;
  /** Per-piece overhead beyond the Identity run, from the calibration paths, taken off the entries (may be < 0). */
  pieceOverheadMs: number;
  /** Factor from pieces timed alone to pieces inside a whole model (caches), from the calibration paths. */
  scale: number;
  /** Which calibration model the leave-one-out error chose: 'overhead', 'scale', 'both' or 'none'. */
  calibrationModel: string;
  /** Calibration paths measured whole, with their median (ms). */
  calibration: Array<{ arch: string; measuredMs: number }>;
  /** Entries as measured, before the overhead was taken off. */
  raw: { prefixMs: number; suffixMs: number; opsMs: number[][] };
  validation?: LatencyValidation;
}

export interface MeasureOptions {
  /**
   * 'cpu' (default): CPU time of each run, which on one thread is its compute time even when
   * other processes share the cores; 'wall': wall-clock time (right on a quiet machine only).
   */
  clock?: 'cpu' | 'wall';
  /** Whole-model calibration paths (default 8; 0: Identity graphs only, scale 1). */
  calibrationPaths?: number;
  /** Untimed runs per piece before its first timed round (default 10). */
  warmup?: number;
  /** Timed runs per piece, over all rounds (default 60). */
  runs?: number;
  /** Rounds the timed runs are spread over (default 3). */
  rounds?: number;
  /** Seed of the random weights, inputs and round orders (default 0). */
  seed?: number;
  /**
   * How an entry is taken from its samples (default 'median'); 'p10' (lower decile) and 'min'
   * hold up better under load from other processes, which slows runs down and never speeds them up.
   */
  statistic?: MeasureStatistic;
  /** Progress lines. */
  log?: (line: string) => void;
}

export type MeasureStatistic = 'median' | 'p10' | 'min';

/** The statistics an entry may be taken as, from its samples. */
export const STATISTICS: Record<MeasureStatistic, (samples: readonly number[]) => number> = {
  median: (xs) => median(xs),
  p10: (xs) => quantile([...xs].sort((a, b) => a - b), 0.1),
  min: (xs) => Math.min(...xs),
};

export interface LatencyTableOptions extends MeasureOptions {
  /** Folder of cached tables (default `<cwd>/.cache/latency`). */
  cacheDir?: string;
  /** Measure again even when a cached table exists. */
  rebuild?: boolean;
}

export interface ProxyScore {
  pearson: number;
  spearman: number;
  /** Mean absolute percentage error, in percent. */
  mape: number;
}

export interface LatencyValidation {
  paths: number;
  date: string;
  settings: { warmup: number; runs: number; rounds: number; clock: 'cpu' | 'wall' };
  /** The lookup table's sum. */
  table: ProxyScore;
  /** overhead + c * FLOPs, c fitted on the piece measurements. */
  flops: ProxyScore & { msPerMFlop: number };
  /** Best affine fit a + b * FLOPs to the measured paths (in-sample bound for FLOPs proxies). */
  flopsOracle: ProxyScore;
  /**
   * Median ratio of the table's calibration paths timed now (interleaved with the validation
   * paths) to their time when the table was built: > 1 when the machine is busier now.
   */
  loadFactor: number;
  /** The table's prediction times loadFactor. */
  tableAtLoad: ProxyScore;
  /** The FLOPs estimate times loadFactor. */
  flopsAtLoad: ProxyScore;
  /** Set when loadFactor is off 1 by more than 15%. */
  warning?: string;
  /** Per path: arch key, measured median, table prediction, FLOPs estimate, FLOPs. */
  samples: Array<{ arch: string; measuredMs: number; tableMs: number; flopsMs: number; flops: number }>;
}

// ---------------------------------------------------------------------------------------------
// Statistics.

// Pearson and Spearman come from src/analysis/rank-stats.ts (one implementation for the project).

/** Mean absolute percentage error of `pred` against `actual`, in percent. */
export function mape(pred: readonly number[], actual: readonly number[]): number {
  if (pred.length !== actual.length || pred.length === 0) throw new RangeError('mape: need two series of the same, non-zero length');
  return (100 * pred.reduce((s, p, i) => s + Math.abs(p - actual[i]!) / Math.abs(actual[i]!), 0)) / pred.length;
}

/** Pearson, Spearman and MAPE of an estimate against measurements. */
export function score(pred: readonly number[], actual: readonly number[]): ProxyScore {
  return { pearson: pearson(pred, actual), spearman: spearman(pred, actual), mape: mape(pred, actual) };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------------------------------------
// Cache.

export function latencyTableKey(space: ResolvedSpace, clock: 'cpu' | 'wall' = 'cpu'): LatencyTableKey {
  const m = machineInfo();
  return {
    spaceHash: createHash('sha256').update(JSON.stringify(space)).digest('hex').slice(0, 16),
    space: space.name,
    cpu: m.cpu,
    onnxruntime: m.onnxruntime,
    provider: 'cpu',
    batch: 1,
    threads: 1,
    clock,
  };
}

export function latencyTablePath(cacheDir: string, key: LatencyTableKey): string {
  const id = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 12);
  return join(cacheDir, `${key.space.replace(/[^A-Za-z0-9._-]+/g, '_')}-${id}.json`);
}

function sameKey(a: LatencyTableKey, b: LatencyTableKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// Predictor.

/** `(arch) => predict(arch) <= maxMs`, after checking maxMs: the hook `--latency-max` hands the samplers and searchers. */
export function latencyConstraint(predict: (arch: readonly number[]) => number, maxMs: number): (arch: readonly number[]) => boolean {
  if (!(typeof maxMs === 'number' && maxMs > 0 && Number.isFinite(maxMs))) throw new RangeError(`latency max: expected a positive number of ms, got ${JSON.stringify(maxMs)}`);
  return (arch) => predict(arch) <= maxMs;
}

/** A loaded table bound to its space: predicts path latency and serves as a search constraint. */
export class LatencyPredictor {
  constructor(
    readonly space: ResolvedSpace,
    readonly table: LatencyTableData,
    /** Where the table is cached (undefined when it was never saved). */
    readonly path?: string,
  ) {
    const L = space.layers.length;
    const M = space.opNames.length;
    if (table.opsMs.length !== L || !table.opsMs.every((row) => row.length === M)) {
      throw new Error(`latency table: expected ${L} layers x ${M} ops, got ${table.opsMs.length} rows`);
    }
  }

  /** Predicted latency of a path, ms (batch 1, 1 thread, onnxruntime CPU on the table's machine). */
  readonly predictLatency = (arch: readonly number[]): number => {
    checkArch(this.space, arch);
    let ms = this.table.prefixMs + this.table.suffixMs;
    for (let l = 0; l < arch.length; l++) ms += this.table.opsMs[l]![arch[l]!]!;
    return ms;
  };

  /** A hook for samplers and searchers (`--latency-max MS`): true when the path fits. */
  constraint(maxMs: number): (arch: readonly number[]) => boolean {
    return latencyConstraint(this.predictLatency, maxMs);
  }

  /** Smallest and largest predicted latency over all paths. */
  range(): { minMs: number; maxMs: number } {
    const fixed = this.table.prefixMs + this.table.suffixMs;
    return {
      minMs: fixed + this.table.opsMs.reduce((a, row) => a + Math.min(...row), 0),
      maxMs: fixed + this.table.opsMs.reduce((a, row) => a + Math.max(...row), 0),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement.

interface Piece {
  label: string;
  model: Uint8Array;
  inputDims: number[];
}

/** Sessions open at once while timing; more pieces are timed in chunks of a shuffled order. */
const MAX_OPEN_SESSIONS = 192;

/**
 * Times each piece: sessions opened together (in chunks of a shuffled order past
 * MAX_OPEN_SESSIONS), `warmup` untimed runs each, then `runs` timed runs spread over `rounds`
 * rounds in a shuffled order per round. Returns the median per piece.
 */
async function timePieces(pieces: Piece[], o: Required<Omit<MeasureOptions, 'log'>> & { log: (s: string) => void }, what: string): Promise<number[]> {
  return (await timePieceSamples(pieces, o, what)).map(STATISTICS[o.statistic]);
}

/** timePieces' samples: per piece, ceil(runs / rounds) samples of each round, round by round. */
async function timePieceSamples(pieces: Piece[], o: Required<Omit<MeasureOptions, 'log'>> & { log: (s: string) => void }, what: string): Promise<number[][]> {
  const rng = new Rng(o.seed + 7);
  const perRound = Math.max(1, Math.ceil(o.runs / o.rounds));
  const result = new Array<number[]>(pieces.length);
  const order = pieces.length > MAX_OPEN_SESSIONS ? rng.permutation(pieces.length) : pieces.map((_, i) => i);
  for (let start = 0; start < pieces.length; start += MAX_OPEN_SESSIONS) {
    const idx = order.slice(start, start + MAX_OPEN_SESSIONS);
    const sessions: OrtSession[] = [];
    const feeds: OrtTensor[] = [];
    try {
      for (const i of idx) {
        sessions.push(await createSession(pieces[i]!.model, 'cpu', 1));
        feeds.push(await randomInput(pieces[i]!.inputDims, o.seed + i));
      }
      const samples = idx.map(() => [] as number[]);
      for (let k = 0; k < idx.length; k++) await timeSession(sessions[k]!, feeds[k]!, o.warmup, 0);
      for (let r = 0; r < o.rounds; r++) {
        for (const k of rng.permutation(idx.length)) {
          const t = await timeSession(sessions[k]!, feeds[k]!, 2, perRound);
          samples[k]!.push(...(o.clock === 'cpu' ? t.cpuMs : t.wallMs));
        }
      }
      idx.forEach((i, k) => {
        result[i] = samples[k]!;
      });
      o.log(`${what}: timed ${Math.min(start + MAX_OPEN_SESSIONS, pieces.length)}/${pieces.length}`);
    } finally {
      for (const s of sessions) await s.release();
    }
  }
  return result;
}

function measureDefaults(opts: MeasureOptions): Required<Omit<MeasureOptions, 'log'>> & { log: (s: string) => void } {
  const o = {
    warmup: opts.warmup ?? 10,
    runs: opts.runs ?? 60,
    rounds: opts.rounds ?? 3,
    seed: opts.seed ?? 0,
    calibrationPaths: opts.calibrationPaths ?? 8,
    clock: opts.clock ?? 'cpu',
    statistic: opts.statistic ?? 'median',
    log: opts.log ?? (() => {}),
  };
  if (!Object.hasOwn(STATISTICS, o.statistic)) throw new RangeError(`statistic: expected 'median', 'p10' or 'min', got ${JSON.stringify(o.statistic)}`);
  if (o.clock !== 'cpu' && o.clock !== 'wall') throw new RangeError(`clock: expected 'cpu' or 'wall', got ${JSON.stringify(o.clock)}`);
  for (const [k, min] of [['warmup', 0], ['runs', 1], ['rounds', 1], ['seed', 0], ['calibrationPaths', 0]] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] < min) throw new RangeError(`${k}: expected an integer >= ${min}, got ${JSON.stringify(o[k])}`);
  }
  return o;
}

const shapeKey = (dims: readonly number[]): string => dims.join('x');

type CalibRow = { S: number; m: number; y: number };
type Calibration = { scale: number; pieceOverheadMs: number };

/** The three calibration models, each fitted by least squares on `rows`. */
const CALIBRATION_MODELS: Record<string, (rows: CalibRow[]) => Calibration | undefined> = {
  // pieces add up after a constant per-piece overhead
  overhead: (rows) => ({ scale: 1, pieceOverheadMs: rows.reduce((a, r) => a + (r.S - r.y) * r.m, 0) / rows.reduce((a, r) => a + r.m * r.m, 0) }),
  // pieces add up after a common factor
  scale: (rows) => ({ scale: rows.reduce((a, r) => a + r.S * r.y, 0) / rows.reduce((a, r) => a + r.S * r.S, 0), pieceOverheadMs: 0 }),
  both: (rows) => {
    let ss = 0;
    let sm = 0;
    let mm = 0;
    let sy = 0;
    let my = 0;
    for (const r of rows) {
      ss += r.S * r.S;
      sm += r.S * r.m;
      mm += r.m * r.m;
      sy += r.S * r.y;
      my += r.m * r.y;
    }
    const det = ss * mm - sm * sm;
    if (!(Math.abs(det) > 1e-9 * ss * mm)) return undefined;
    return { scale: (sy * mm - my * sm) / det, pieceOverheadMs: -(ss * my - sm * sy) / det };
  },
};

/**
 * Fits y = scale * S - pieceOverhead * m on the calibration rows with the model (overhead only,
 * scale only, or both) of least leave-one-out squared error; scale stays in (0.5, 2).
 */
function fitCalibration(rows: CalibRow[]): Calibration & { model: string } {
  if (rows.length === 0) return { scale: 1, pieceOverheadMs: 0, model: 'none' };
  const sane = (c: Calibration | undefined): c is Calibration => c !== undefined && Number.isFinite(c.pieceOverheadMs) && c.scale > 0.5 && c.scale < 2;
  let best: { model: string; err: number } | undefined;
  for (const [model, fit] of Object.entries(CALIBRATION_MODELS)) {
    if (rows.length < (model === 'both' ? 4 : 3)) continue;
    let err = 0;
    for (let i = 0; i < rows.length && Number.isFinite(err); i++) {
      const c = fit(rows.filter((_, k) => k !== i));
      const r = rows[i]!;
      err = sane(c) ? err + (c.scale * r.S - c.pieceOverheadMs * r.m - r.y) ** 2 : Number.POSITIVE_INFINITY;
    }
    if (Number.isFinite(err) && (best === undefined || err < best.err)) best = { model, err };
  }
  const model = best?.model ?? 'overhead';
  const c = CALIBRATION_MODELS[model]!(rows);
  return sane(c) ? { ...c, model } : { scale: 1, pieceOverheadMs: 0, model: 'none' };
}

/** Measures a fresh table (no cache). */
export async function measureLatencyTable(space: ResolvedSpace, opts: MeasureOptions = {}): Promise<LatencyTableData> {
  const o = measureDefaults(opts);
  const src = randomTensorSource(o.seed);
  const piece = (seg: Segment, label: string): Piece => ({
    label,
    model: serializeModel(buildSegmentModel(space, seg, src)),
    inputDims: [1, ...segmentShapes(space, seg).input],
  });
  const pieces: Piece[] = [piece({ kind: 'prefix' }, 'prefix'), piece({ kind: 'suffix' }, 'suffix')];
  const blockAt: Array<Array<number | undefined>> = space.layers.map((layer, l) =>
    layer.ops.map((op, j) => {
      if (op.kind === 'skip') return undefined;
      pieces.push(piece({ kind: 'block', layer: l, choice: j }, `layers.${l}.${j}`));
      return pieces.length - 1;
    }),
  );
  // Identity graphs for the overhead, one per output shape of a timed piece.
  const outShapes = new Map<string, number[]>();
  const outShapeOf = (seg: Segment): number[] => {
    const s = segmentShapes(space, seg).output;
    outShapes.set(shapeKey(s), s);
    return s;
  };
  const prefixOut = outShapeOf({ kind: 'prefix' });
  outShapeOf({ kind: 'suffix' });
  const layerOut = space.layers.map((_, l) => outShapeOf({ kind: 'block', layer: l, choice: 0 }));
  const overheadFirst = pieces.length;
  const overheadKeys = [...outShapes.keys()];
  for (const k of overheadKeys) {
    const dims = outShapes.get(k)!;
    pieces.push({ label: `identity ${k}`, model: serializeModel(buildIdentityModel(dims)), inputDims: [1, ...dims] });
  }
  const calibFirst = pieces.length;
  const calibArchs = randomArchs(space, o.calibrationPaths, o.seed + 500);
  for (const arch of calibArchs) {
    pieces.push({ label: archKey(arch), model: serializeModel(buildSegmentModel(space, { kind: 'path', arch }, src)), inputDims: [1, space.input.channels, space.input.height, space.input.width] });
  }
  o.log(`latency table of '${space.name}': ${pieces.length} graphs`);
  const t = await timePieces(pieces, o, 'latency table');

  const overheadMs: Record<string, number> = {};
  overheadKeys.forEach((k, i) => {
    overheadMs[k] = t[overheadFirst + i]!;
  });
  const idOverhead = (out: number[]): number => overheadMs[shapeKey(out)]!;
  // Calibration against whole models: measured_p = scale * S_p - pieceOverhead * m_p + once, where
  // S_p = sum over the path's pieces of (raw - Identity run), m_p = pieces that pay a run overhead
  // the whole model does not (prefix and non-skip blocks), once = the suffix's Identity run.
  const once = idOverhead([space.classes]);
  const calibRows = calibArchs.map((arch, c) => {
    let S = t[0]! - idOverhead(prefixOut) + t[1]! - once;
    let m = 1;
    arch.forEach((j, l) => {
      const i = blockAt[l]![j];
      if (i === undefined) return;
      S += t[i]! - idOverhead(layerOut[l]!);
      m++;
    });
    return { S, m, y: t[calibFirst + c]! - once };
  });
  const { scale, pieceOverheadMs, model: calibrationModel } = fitCalibration(calibRows);
  const net = (ms: number, out: number[]): number => Math.max(0, scale * (ms - idOverhead(out)) - pieceOverheadMs);
  const rawOps = blockAt.map((row) => row.map((i) => (i === undefined ? 0 : t[i]!)));
  return {
    format: LATENCY_TABLE_FORMAT,
    key: latencyTableKey(space, o.clock),
    createdAt: new Date().toISOString(),
    settings: { warmup: o.warmup, runs: o.runs, rounds: o.rounds, statistic: o.statistic, clock: o.clock },
    prefixMs: net(t[0]!, prefixOut),
    suffixMs: scale * (t[1]! - once) + once,
    opsMs: blockAt.map((row, l) => row.map((i) => (i === undefined ? 0 : net(t[i]!, layerOut[l]!)))),
    overheadMs,
    pieceOverheadMs,
    scale,
    calibrationModel,
    calibration: calibArchs.map((a, c) => ({ arch: archKey(a), measuredMs: t[calibFirst + c]! })),
    raw: { prefixMs: t[0]!, suffixMs: t[1]!, opsMs: rawOps },
  };
}

/** The table of a space on this machine: from the cache when there, else measured and cached. */
export async function latencyTable(space: ResolvedSpace, opts: LatencyTableOptions = {}): Promise<LatencyPredictor> {
  const cacheDir = opts.cacheDir ?? join(process.cwd(), '.cache', 'latency');
  const key = latencyTableKey(space, opts.clock ?? 'cpu');
  const path = latencyTablePath(cacheDir, key);
  if (!opts.rebuild) {
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const data = JSON.parse(text) as LatencyTableData;
      if (data.format === LATENCY_TABLE_FORMAT && sameKey(data.key, key)) {
        opts.log?.(`latency table of '${space.name}' from ${path}`);
        return new LatencyPredictor(space, data, path);
      }
    }
  }
  // fail before measuring when the cache cannot be written
  try {
    await mkdir(cacheDir, { recursive: true });
    await access(cacheDir, constants.W_OK);
  } catch (e) {
    throw new Error(`cannot write latency table to '${path}': cache folder '${cacheDir}' is not writable (${(e as Error).message})`, { cause: e });
  }
  const data = await measureLatencyTable(space, opts);
  await saveLatencyTable(path, data);
  return new LatencyPredictor(space, data, path);
}

export async function saveLatencyTable(path: string, data: LatencyTableData): Promise<void> {
  await writeBytes(path, `${JSON.stringify(data, null, 1)}\n`, 'latency table');
}

/** Latency (ms, batch 1, 1 thread; median or opts.statistic) of whole models of the given paths, random weights. */
export async function measurePaths(space: ResolvedSpace, archs: readonly Arch[], opts: MeasureOptions = {}): Promise<number[]> {
  return (await measurePathSamples(space, archs, opts)).map(STATISTICS[measureDefaults(opts).statistic]);
}

/**
 * measurePaths' samples (ms): per path, ceil(runs / rounds) runs of each round, round by round;
 * the paths are visited in a new shuffled order every round.
 */
export async function measurePathSamples(space: ResolvedSpace, archs: readonly Arch[], opts: MeasureOptions = {}): Promise<number[][]> {
  const o = measureDefaults(opts);
  const src = randomTensorSource(o.seed);
  const pieces = archs.map((arch) => {
    checkArch(space, arch);
    return { label: archKey(arch), model: serializeModel(buildSegmentModel(space, { kind: 'path', arch }, src)), inputDims: [1, space.input.channels, space.input.height, space.input.width] };
  });
  return timePieceSamples(pieces, o, 'whole paths');
}

/** Uniformly random paths (seeded). */
export function randomArchs(space: ResolvedSpace, count: number, seed: number): Arch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => space.layers.map(() => rng.int(space.opNames.length)));
}

export interface ValidateOptions extends MeasureOptions {
  /** Random paths measured as whole models (default 30, at least 3). */
  paths?: number;
  /** Write the validation into the predictor's cached table file (default true when it has one). */
  save?: boolean;
}

/**
 * The FLOPs-proportional estimate from a table's piece measurements: ms = once + msPerFlop *
 * FLOPs, msPerFlop by least squares through 0 over the pieces, once = the once-per-run overhead
 * that the table's suffix carries.
 */
export function flopsEstimate(space: ResolvedSpace, t: LatencyTableData): { once: number; msPerFlop: number } {
  const cost = costTable(space);
  const once = t.overheadMs[shapeKey([space.classes])]!;
  const pts: Array<[number, number]> = [
    [cost.fixed.stem.flops + cost.fixed.fixedBlocks.reduce((a, c) => a + c.flops, 0), t.prefixMs],
    [cost.fixed.head.flops + cost.fixed.fc.flops, t.suffixMs - once],
  ];
  space.layers.forEach((layer, l) =>
    layer.ops.forEach((op, j) => {
      if (op.kind !== 'skip') pts.push([cost.flops[l]![j]!, t.opsMs[l]![j]!]);
    }),
  );
  return { once, msPerFlop: pts.reduce((a, [x, y]) => a + x * y, 0) / pts.reduce((a, [x]) => a + x * x, 0) };
}

/** Compares the table's predictions (and a FLOPs estimate) with whole-model measurements. */
export async function validateLatencyTable(pred: LatencyPredictor, opts: ValidateOptions = {}): Promise<LatencyValidation> {
  const o = measureDefaults({ ...opts, clock: opts.clock ?? pred.table.settings.clock, statistic: opts.statistic ?? pred.table.settings.statistic ?? 'median' });
  const n = opts.paths ?? 30;
  if (!Number.isSafeInteger(n) || n < 3) throw new RangeError(`paths: expected an integer >= 3, got ${JSON.stringify(opts.paths)}`);
  const space = pred.space;
  const cost = costTable(space);
  const t = pred.table;

  const { once, msPerFlop } = flopsEstimate(space, t);

  const archs = randomArchs(space, n, o.seed + 1000);
  // the table's calibration paths are timed again, interleaved with the validation paths: their
  // slow-down since the table was built measures how much busier the machine is now
  const calib = t.calibration.map((c) => parseArchKey(c.arch));
  const all = await measurePaths(space, [...archs, ...calib], o);
  const measured = all.slice(0, n);
  const loadFactor = calib.length === 0 ? 1 : median(all.slice(n).map((ms, i) => ms / t.calibration[i]!.measuredMs));
  const tableMs = archs.map((a) => pred.predictLatency(a));
  const flops = archs.map((a) => cost.archFlops(a));
  const flopsMs = flops.map((f) => once + msPerFlop * f);
  // in-sample affine fit of FLOPs to the measurements
  const mf = flops.reduce((a, b) => a + b, 0) / n;
  const mm = measured.reduce((a, b) => a + b, 0) / n;
  const vf = flops.reduce((a, f) => a + (f - mf) ** 2, 0);
  const slope = vf === 0 ? 0 : flops.reduce((a, f, i) => a + (f - mf) * (measured[i]! - mm), 0) / vf;
  const oracle = flops.map((f) => mm + slope * (f - mf));

  const v: LatencyValidation = {
    paths: n,
    date: new Date().toISOString(),
    settings: { warmup: o.warmup, runs: o.runs, rounds: o.rounds, clock: o.clock },
    table: score(tableMs, measured),
    flops: { ...score(flopsMs, measured), msPerMFlop: msPerFlop * 1e6 },
    flopsOracle: score(oracle, measured),
    loadFactor,
    tableAtLoad: score(tableMs.map((ms) => ms * loadFactor), measured),
    flopsAtLoad: score(flopsMs.map((ms) => ms * loadFactor), measured),
    samples: archs.map((a, i) => ({ arch: archKey(a), measuredMs: measured[i]!, tableMs: tableMs[i]!, flopsMs: flopsMs[i]!, flops: flops[i]! })),
  };
  if (Math.abs(loadFactor - 1) > 0.15) {
    v.warning = `the machine ran ${loadFactor.toFixed(2)}x ${loadFactor > 1 ? 'slower' : 'faster'} than when the table was built (calibration paths timed again): the table's absolute times do not hold under this load; see tableAtLoad, or rebuild the table on a quiet machine`;
  }
  if ((opts.save ?? true) && pred.path !== undefined) {
    t.validation = v;
    await saveLatencyTable(pred.path, t);
  }
  return v;
}

export function formatValidation(v: LatencyValidation): string {
  const row = (name: string, s: ProxyScore): string => `${name.padEnd(26)} ${s.pearson.toFixed(3).padStart(8)} ${s.spearman.toFixed(3).padStart(9)} ${s.mape.toFixed(1).padStart(7)}%`;
  const ms = v.samples.map((s) => s.measuredMs);
  return [
    `latency predictor on ${v.paths} random paths (measured ${Math.min(...ms).toFixed(3)}-${Math.max(...ms).toFixed(3)} ms ${v.settings.clock} time, batch 1, 1 thread)`,
    `${'estimate'.padEnd(26)} ${'pearson'.padStart(8)} ${'spearman'.padStart(9)} ${'MAPE'.padStart(8)}`,
    row('lookup table (sum)', v.table),
    row(`FLOPs x ${v.flops.msPerMFlop.toFixed(4)} ms/M`, v.flops),
    row('FLOPs, best affine (in-sample)', v.flopsOracle),
    `machine load now / at table build: ${v.loadFactor.toFixed(3)}x`,
    row('lookup table x load', v.tableAtLoad),
    row('FLOPs estimate x load', v.flopsAtLoad),
    ...(v.warning ? [`warning: ${v.warning}`] : []),
  ].join('\n');
}
