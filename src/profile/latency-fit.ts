// A fitted latency model: whole-path latency as a linear function of a few features of the path,
// fitted by least squares on whole models of training paths measured on this machine.
//
// Why: the lookup table (src/profile/latency-table.ts) adds up pieces timed alone, and a piece
// timed alone keeps its weights and activations in cache and pays no cost for what onnxruntime
// fuses across its borders; FLOPs ignore that depthwise convolutions and memory traffic cost far
// more per multiply-add than 1x1 convolutions. Both err in ways that depend on the path. A model
// fitted on whole paths sees those effects directly, and its features are the quantities they
// depend on: multiply-adds split by op kind, the activation and weight memory the path touches,
// the number of blocks (a per-block cost), and optionally the table's sum itself.
//
// Several feature sets are candidates; the one of least leave-one-out MAPE on the training paths
// is kept, so the choice never looks at the held-out paths it is judged on. Columns are centred
// and scaled before solving the normal equations (the raw features span ten orders of magnitude),
// with a tiny ridge so that a constant or duplicate column cannot make the system singular.
//
// The solver is a few lines of Gaussian elimination on a system of at most ~10 unknowns: a matrix
// library would add a dependency for one call that is not a hot path.
import { opCost } from '../space/cost.js';
import type { ResolvedLayer, ResolvedOp, ResolvedSpace } from '../space/types.js';
import { checkArch } from '../export/onnx.js';

/** Features of a path, summed over its searchable layers (the fixed parts are in the intercept). */
export interface PathFeatures {
  /** The lookup table's sum for the path (ms); 0 when no table was given. */
  tableMs: number;
  /** All multiply-adds of the path (the FLOPs of src/space/cost.ts). */
  flops: number;
  /** Multiply-adds of 1x1 convolutions (expand, project, conv1x1 ops). */
  pointwiseFlops: number;
  /** Multiply-adds of depthwise convolutions. */
  depthwiseFlops: number;
  /** Activation elements read or written by the blocks' convolutions (input, expanded, output). */
  activations: number;
  /** Parameters (weights streamed from memory once per image at batch 1). */
  params: number;
  /** Elements of expanded maps that squeeze-excite pools and gates (an extra pass each). */
  seActivations: number;
  /** Non-skip blocks (a fixed cost per block: kernel launches, fusion borders). */
  blocks: number;
}

export type FeatureName = keyof PathFeatures;

function blockFeatures(layer: ResolvedLayer, op: ResolvedOp): Omit<PathFeatures, 'tableMs'> {
  const inPix = layer.height * layer.width;
  const outPix = layer.outHeight * layer.outWidth;
  const { flops, params } = opCost(layer, op);
  const zero = { flops: 0, pointwiseFlops: 0, depthwiseFlops: 0, activations: 0, params: 0, seActivations: 0, blocks: 0 };
  switch (op.kind) {
    case 'skip':
      return zero;
    case 'conv1x1':
      return { ...zero, flops, params, pointwiseFlops: flops, activations: layer.cin * inPix + layer.cout * outPix, blocks: 1 };
    case 'mbconv': {
      const depthwiseFlops = op.kernel * op.kernel * op.mid * outPix;
      const expanded = op.expansion !== 1 ? op.mid * inPix : 0;
      return {
        flops,
        params,
        depthwiseFlops,
        pointwiseFlops: (op.expansion !== 1 ? op.mid * layer.cin * inPix : 0) + layer.cout * op.mid * outPix,
        activations: layer.cin * inPix + expanded + op.mid * outPix + layer.cout * outPix,
        seActivations: op.se ? op.mid * outPix : 0,
        blocks: 1,
      };
    }
  }
}

/** Per-(layer, op) feature rows of a space, computed once per space (the features are additive). */
export class FeatureTable {
  private readonly rows: Array<Array<Omit<PathFeatures, 'tableMs'>>>;
  constructor(
    readonly space: ResolvedSpace,
    /** opsMs[l][j] of a latency table, for the tableMs feature (prefix and suffix are constant). */
    private readonly opsMs?: number[][],
  ) {
    this.rows = space.layers.map((layer) => layer.ops.map((op) => blockFeatures(layer, op)));
  }

  of(arch: readonly number[]): PathFeatures {
    checkArch(this.space, arch);
    const f: PathFeatures = { tableMs: 0, flops: 0, pointwiseFlops: 0, depthwiseFlops: 0, activations: 0, params: 0, seActivations: 0, blocks: 0 };
    arch.forEach((j, l) => {
      const r = this.rows[l]![j]!;
      for (const k of Object.keys(r) as Array<keyof typeof r>) f[k] += r[k];
      if (this.opsMs) f.tableMs += this.opsMs[l]![j]!;
    });
    return f;
  }
}

/**
 * Candidate feature sets. FLOPs alone is not one: it is the baseline the fitted model is compared
 * with, so a fitted model always uses something FLOPs does not see.
 */
export const FEATURE_SETS: Record<string, FeatureName[]> = {
  'table': ['tableMs'],
  'table+flops': ['tableMs', 'flops'],
  'table+flops+blocks': ['tableMs', 'flops', 'blocks'],
  'op-kinds': ['pointwiseFlops', 'depthwiseFlops', 'activations', 'params', 'blocks'],
  'op-kinds+se': ['pointwiseFlops', 'depthwiseFlops', 'activations', 'params', 'seActivations', 'blocks'],
  'op-kinds+table': ['tableMs', 'pointwiseFlops', 'depthwiseFlops', 'activations', 'params', 'blocks'],
};

/** Least-squares solution of X w ~ y with an intercept (returned first) for the columns of X. */
export function leastSquares(X: readonly (readonly number[])[], y: readonly number[], ridge = 1e-9): { intercept: number; coef: number[] } {
  const n = X.length;
  if (n === 0 || y.length !== n) throw new RangeError(`leastSquares: expected as many rows as targets (> 0), got ${n} and ${y.length}`);
  const p = X[0]!.length;
  if (!X.every((r) => r.length === p)) throw new RangeError('leastSquares: rows of different lengths');
  if (![...y, ...X.flat()].every(Number.isFinite)) throw new RangeError('leastSquares: non-finite value in the data');
  const mean = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i)).reduce((a, b) => a + b, 0) / n;
  const my = mean((i) => y[i]!);
  const mx = Array.from({ length: p }, (_, j) => mean((i) => X[i]![j]!));
  const sx = Array.from({ length: p }, (_, j) => Math.sqrt(mean((i) => (X[i]![j]! - mx[j]!) ** 2)));
  const z = (i: number, j: number) => (sx[j]! > 0 ? (X[i]![j]! - mx[j]!) / sx[j]! : 0);
  // normal equations of the centred, scaled columns
  const A = Array.from({ length: p }, (_, a) => Array.from({ length: p }, (_, b) => mean((i) => z(i, a) * z(i, b)) + (a === b ? ridge : 0)));
  const rhs = Array.from({ length: p }, (_, a) => mean((i) => z(i, a) * (y[i]! - my)));
  const w = solve(A, rhs);
  const coef = w.map((v, j) => (sx[j]! > 0 ? v / sx[j]! : 0));
  return { intercept: my - coef.reduce((a, c, j) => a + c * mx[j]!, 0), coef };
}

/** Solves A x = b (A square, small) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    const d = M[c]![c]!;
    if (Math.abs(d) < 1e-300) throw new RangeError('leastSquares: singular system');
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / d;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

export interface LinearLatencyModel {
  /** Name of the feature set (a key of FEATURE_SETS). */
  name: string;
  features: FeatureName[];
  intercept: number;
  coef: number[];
}

export function predictLinear(m: LinearLatencyModel, f: PathFeatures): number {
  return m.intercept + m.features.reduce((a, k, j) => a + m.coef[j]! * f[k], 0);
}

export function fitLinear(name: string, features: FeatureName[], rows: ReadonlyArray<{ f: PathFeatures; ms: number }>): LinearLatencyModel {
  const { intercept, coef } = leastSquares(
    rows.map((r) => features.map((k) => r.f[k])),
    rows.map((r) => r.ms),
  );
  return { name, features, intercept, coef };
}

export interface FittedLatencyModel extends LinearLatencyModel {
  /** Leave-one-out MAPE (%) on the training paths of every candidate feature set. */
  candidates: Array<{ name: string; looMape: number }>;
  trainingPaths: number;
}

/**
 * Fits every candidate feature set (those needing the table only when `withTable`) and keeps the
 * one of least leave-one-out MAPE on `rows`; needs more rows than the largest set has features + 2.
 */
export function fitLatencyModel(rows: ReadonlyArray<{ f: PathFeatures; ms: number }>, withTable: boolean): FittedLatencyModel {
  const sets = Object.entries(FEATURE_SETS).filter(([, fs]) => withTable || !fs.includes('tableMs'));
  const need = Math.max(...sets.map(([, fs]) => fs.length)) + 3;
  if (rows.length < need) throw new RangeError(`fitLatencyModel: need at least ${need} training paths, got ${rows.length}`);
  const candidates = sets.map(([name, fs]) => {
    let err = 0;
    for (let i = 0; i < rows.length; i++) {
      const m = fitLinear(name, fs, rows.filter((_, k) => k !== i));
      err += Math.abs(predictLinear(m, rows[i]!.f) - rows[i]!.ms) / rows[i]!.ms;
    }
    return { name, looMape: (100 * err) / rows.length };
  });
  const best = candidates.reduce((a, b) => (b.looMape < a.looMape ? b : a));
  return { ...fitLinear(best.name, FEATURE_SETS[best.name]!, rows), candidates, trainingPaths: rows.length };
}
