// The latency estimates behind --latency-max: least squares and the feature model recover known
// coefficients on synthetic data; the validation statistics match hand-computed values; the
// choice between estimates follows held-out Spearman then MAPE; the estimator a search uses
// predicts with the chosen method and its constraint refuses paths over budget, inside a real
// evolutionary search; and the whole choice runs end to end (small space, few runs) with its cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSpace } from '../src/space/resolve.js';
import { costTable } from '../src/space/cost.js';
import { archKey, type SpaceFile } from '../src/space/types.js';
import { Rng } from '../src/util/rng.js';
import { EvolutionSearch } from '../src/search/evolution.js';
import { smallSpace } from './helpers/spaces.js';
import { FeatureTable, fitLatencyModel, leastSquares, predictLinear, type PathFeatures } from '../src/profile/latency-fit.js';
import { LatencyPredictor, mape, randomArchs, score, type LatencyTableData } from '../src/profile/latency-table.js';
import { LatencyEstimator, latencyEstimator, pickMethod, type LatencyChoiceData } from '../src/profile/latency-choice.js';

const SPACE_FILE: SpaceFile = smallSpace({
  name: 'latency-fit-test',
  input: { height: 32, width: 32, channels: 3 },
  activation: 'relu',
  stages: [
    { width: 24, layers: 2, stride: 2 },
    { width: 40, layers: 2, stride: 2 },
    { width: 64, layers: 2, stride: 2 },
  ],
  ops: ['k3e3', 'k5e6', 'k7e3', 'k3e6_se', 'id'],
  head: { width: 128 },
});
const space = resolveSpace(SPACE_FILE);

test('leastSquares recovers known coefficients (exact data, and columns 10 orders of magnitude apart)', () => {
  const rng = new Rng(1);
  const X = Array.from({ length: 25 }, () => [rng.float() * 1e9, rng.float() * 10, rng.float()]);
  const truth = { intercept: 0.7, coef: [2e-9, -0.3, 5] };
  const y = X.map((r) => truth.intercept + r.reduce((a, x, j) => a + truth.coef[j]! * x, 0));
  const fit = leastSquares(X, y);
  assert.ok(Math.abs(fit.intercept - 0.7) < 1e-6, `intercept ${fit.intercept}`);
  fit.coef.forEach((c, j) => assert.ok(Math.abs(c - truth.coef[j]!) < 1e-6 * Math.abs(truth.coef[j]!), `coef ${j}: ${c} vs ${truth.coef[j]}`));
  // a constant column gets 0 instead of breaking the solve
  const withConst = leastSquares(
    X.map((r) => [...r, 3]),
    y,
  );
  assert.equal(withConst.coef[3], 0);
  assert.ok(Math.abs(withConst.intercept - 0.7) < 1e-6);
  assert.throws(() => leastSquares([], []), /as many rows as targets/);
  assert.throws(() => leastSquares([[1], [Number.NaN]], [1, 2]), /non-finite/);
});

test('path features are the per-layer sums of what the ops compute', () => {
  const f = new FeatureTable(space);
  const costs = costTable(space);
  // 'id' is a skip, or a 1x1 conv at the layers that change width or resolution
  const allId = space.layers.map(() => 4);
  for (const a of [...randomArchs(space, 20, 3), allId]) {
    const v = f.of(a);
    assert.equal(v.flops, a.reduce((s, j, l) => s + costs.flops[l]![j]!, 0), archKey(a));
    // FLOPs split exactly into 1x1, depthwise and squeeze-excite multiply-adds
    const se = a.reduce((s, j, l) => {
      const op = space.layers[l]!.ops[j]!;
      return s + (op.se ? 2 * op.seWidth * op.mid : 0);
    }, 0);
    assert.equal(v.pointwiseFlops + v.depthwiseFlops + se, v.flops);
    assert.equal(
      v.blocks,
      a.filter((j, l) => space.layers[l]!.ops[j]!.kind !== 'skip').length,
    );
  }
  assert.throws(() => f.of([0]), /arch/);
});

test('fitLatencyModel picks the feature set the data came from and recovers its coefficients', () => {
  const opsMs = space.layers.map((l) => l.ops.map((_, j) => 0.01 * j));
  const features = new FeatureTable(space, opsMs);
  const truth: Partial<PathFeatures> = { pointwiseFlops: 2e-9, depthwiseFlops: 9e-9, activations: 3e-8, params: 1e-7, seActivations: 4e-8, blocks: 0.02 };
  const model = (f: PathFeatures) => 0.15 + Object.entries(truth).reduce((a, [k, c]) => a + c * f[k as keyof PathFeatures], 0);
  const rows = randomArchs(space, 40, 11).map((a) => ({ f: features.of(a), ms: model(features.of(a)) }));
  const fit = fitLatencyModel(rows, true);
  assert.equal(fit.name, 'op-kinds+se');
  assert.equal(fit.trainingPaths, 40);
  assert.ok(fit.candidates.find((c) => c.name === 'op-kinds+se')!.looMape < 1e-6);
  assert.ok(Math.abs(fit.intercept - 0.15) < 1e-6, `intercept ${fit.intercept}`);
  fit.features.forEach((k, j) => assert.ok(Math.abs(fit.coef[j]! - truth[k]!) < 1e-6 * truth[k]!, `${k}: ${fit.coef[j]} vs ${truth[k]}`));
  // held-out paths are predicted exactly
  for (const a of randomArchs(space, 5, 12)) assert.ok(Math.abs(predictLinear(fit, features.of(a)) - model(features.of(a))) < 1e-9);
  // without a table, sets that need one are not candidates
  assert.ok(fitLatencyModel(rows, false).candidates.every((c) => !c.name.includes('table')));
  assert.throws(() => fitLatencyModel(rows.slice(0, 5), true), /need at least 9 training paths/);
});

test('validation statistics against hand-computed values', () => {
  // x - 3 = [-2,-1,0,1,2], y - 3 = [-1,-2,1,0,2]: sum of products 8, sums of squares 10 and 10
  const s = score([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]);
  assert.ok(Math.abs(s.pearson - 0.8) < 1e-12, `pearson ${s.pearson}`);
  assert.ok(Math.abs(s.spearman - 0.8) < 1e-12, `spearman ${s.spearman}`);
  // ties: ranks [1, 2.5, 2.5, 4] vs [1, 3, 2, 4]: 4.5 / sqrt(4.5 * 5)
  assert.ok(Math.abs(score([1, 2, 2, 3], [1, 3, 2, 4]).spearman - 4.5 / Math.sqrt(22.5)) < 1e-12);
  // Spearman sees only ranks: a monotone transform of the estimate does not change it
  assert.ok(Math.abs(score([1, 8, 27, 64, 125], [2, 1, 4, 3, 5]).spearman - 0.8) < 1e-12);
  // (10% + 10% + 50%) / 3
  assert.ok(Math.abs(mape([110, 45, 300], [100, 50, 200]) - 70 / 3) < 1e-12);
  assert.equal(s.mape, mape([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]));
  assert.throws(() => mape([1], [1, 2]), /same, non-zero length/);
});

test('pickMethod: highest held-out Spearman among estimates no worse than FLOPs in MAPE; equal Spearman goes to lower MAPE', () => {
  const sc = (spearman: number, mapePct: number) => ({ pearson: 0.9, spearman, mape: mapePct });
  assert.equal(pickMethod({ fitted: sc(0.95, 2), table: sc(0.94, 2), flops: sc(0.949, 2.5) }).method, 'fitted');
  assert.equal(pickMethod({ fitted: sc(0.93, 3), table: sc(0.94, 4), flops: sc(0.949, 2.5) }).method, 'flops');
  assert.equal(pickMethod({ fitted: sc(0.95, 2.5), table: sc(0.95, 2), flops: sc(0.95, 2.5) }).method, 'table');
  // a better rank does not count when the absolute error is worse than the FLOPs line's
  const p = pickMethod({ fitted: sc(0.96, 2), table: sc(0.98, 3.2), flops: sc(0.93, 2.8) });
  assert.equal(p.method, 'fitted');
  assert.match(p.reason, /fitted Spearman 0\.960 MAPE 2\.0%.*MAPE above FLOPs: table/);
  assert.equal(pickMethod({ fitted: sc(0.99, 3), table: sc(0.98, 3.2), flops: sc(0.93, 2.8) }).method, 'flops');
});

/** A table whose entries are 10x what the fitted model says: the two methods disagree visibly. */
function syntheticEstimator(method: LatencyChoiceData['method']): LatencyEstimator {
  const table: LatencyTableData = {
    format: 'greedynas-latency-table/1',
    key: { spaceHash: '', space: space.name, cpu: '', onnxruntime: '', provider: 'cpu', batch: 1, threads: 1, clock: 'cpu' },
    createdAt: 'then',
    settings: { warmup: 0, runs: 1, rounds: 1, statistic: 'median', clock: 'cpu' },
    prefixMs: 1,
    suffixMs: 1,
    opsMs: space.layers.map((l) => l.ops.map((o, j) => (o.kind === 'skip' ? 0 : 10 * (j + 1)))),
    overheadMs: { '10': 0 },
    pieceOverheadMs: 0,
    scale: 1,
    calibrationModel: 'none',
    calibration: [],
    raw: { prefixMs: 1, suffixMs: 1, opsMs: [] },
  };
  const sc = { pearson: 1, spearman: 1, mape: 0 };
  const choice: LatencyChoiceData = {
    format: 'greedynas-latency-choice/1',
    tableCreatedAt: 'then',
    date: 'now',
    settings: { trainPaths: 10, heldOutPaths: 3, pathSeed: 0, warmup: 0, runs: 1, rounds: 1, clock: 'cpu' },
    method,
    reason: 'test',
    heldOut: { fitted: sc, table: sc, flops: sc, flopsFromPieces: sc },
    measurement: { statistic: 'median', splitHalfSpearman: { training: { median: 1 }, heldOut: 1 } },
    model: { name: 'table', features: ['blocks'], intercept: 0.5, coef: [0.25], candidates: [], trainingPaths: 10 },
    flopsFit: { intercept: 0.1, msPerFlop: 1e-8 },
    training: [],
    samples: [],
  };
  return new LatencyEstimator(new LatencyPredictor(space, table), choice);
}

test('the estimator predicts with the chosen method, and its constraint refuses paths over budget inside a search', async () => {
  const costs = costTable(space);
  const blocks = (a: readonly number[]) => a.filter((j, l) => space.layers[l]!.ops[j]!.kind !== 'skip').length;
  const a = [0, 1, 2, 3, 4, 0];
  const fitted = syntheticEstimator('fitted');
  assert.equal(fitted.method, 'fitted');
  assert.equal(fitted.predictLatency(a), 0.5 + 0.25 * blocks(a));
  assert.equal(syntheticEstimator('table').predictLatency(a), fitted.table.predictLatency(a));
  assert.ok(Math.abs(syntheticEstimator('flops').predictLatency(a) - (0.1 + 1e-8 * costs.archFlops(a))) < 1e-12);
  assert.equal(fitted.summary().method, 'fitted');
  assert.throws(() => fitted.constraint(0), /latency max: expected a positive number/);

  // budget: at most 3 non-skip blocks by the fitted model (the table would allow none of them)
  const budget = 0.5 + 0.25 * 3;
  const check = fitted.constraint(budget);
  assert.equal(check(a), blocks(a) <= 3);
  const seen: number[][] = [];
  const res = await new EvolutionSearch({ space: costs, costs, seed: 5, population: 20, generations: 4, constraints: { check } }).run(async (archs) => {
    seen.push(...archs.map((x) => [...x]));
    // lower loss for more blocks: the search pushes against the budget
    return archs.map((x) => ({ loss: -blocks(x), accuracy: blocks(x) / 6 }));
  });
  assert.ok(seen.length > 40);
  for (const x of seen) assert.ok(fitted.predictLatency(x) <= budget, `${archKey(x)} predicted ${fitted.predictLatency(x)} ms > ${budget}`);
  assert.equal(blocks(res.top[0]!.arch), 3);
});

test('latencyEstimator measures, fits, chooses and caches (small space, few runs)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'greedynas-latfit-'));
  try {
    const opts = { cacheDir: dir, warmup: 2, runs: 6, rounds: 2, calibrationPaths: 4, trainPaths: 12, heldOutPaths: 5, pathSeed: 3 };
    const est = await latencyEstimator(space, opts);
    const c = est.choice;
    assert.ok(['fitted', 'table', 'flops'].includes(c.method));
    assert.equal(c.samples.length, 5);
    assert.equal(c.training.length, 12);
    const trainKeys = new Set(c.training.map((t) => t.arch));
    assert.ok(c.samples.every((s) => !trainKeys.has(s.arch)), 'held-out paths are not training paths');
    for (const s of c.samples) assert.ok(s.measuredMs > 0 && Number.isFinite(s.fittedMs) && Number.isFinite(s.flopsMs));
    const arch = c.samples[0]!.arch.split('-').map(Number);
    assert.equal(est.predictLatency(arch), c.method === 'fitted' ? c.samples[0]!.fittedMs : c.method === 'flops' ? c.samples[0]!.flopsMs : c.samples[0]!.tableMs);
    // cached next to the table, read back without measuring
    const saved = JSON.parse(await readFile(est.path!, 'utf8')) as LatencyChoiceData;
    assert.equal(saved.method, c.method);
    const logs: string[] = [];
    const again = await latencyEstimator(space, { ...opts, log: (l) => logs.push(l) });
    assert.deepEqual(again.choice, saved);
    assert.ok(logs.some((l) => /latency estimate of .* from /.test(l)), logs.join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
