// Rank statistics against hand-computed values (ties included), against independent formulas on
// random data, and on synthetic supernet-free cases; truth files and arch lists.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { averageRanks, kendallTau, pearson, precisionAtTop, rankReport, spearman, topIndices } from '../src/analysis/rank-stats.js';
import { parseTruth, readArchList, readTruthFile, TruthFileError } from '../src/analysis/truth-file.js';
import { Rng } from '../src/util/rng.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** Inversions by merge sort: an O(n log n) count independent of kendallTau's pair loop. */
function inversions(v: number[]): number {
  if (v.length < 2) return 0;
  const mid = v.length >> 1;
  const a = v.slice(0, mid);
  const b = v.slice(mid);
  let count = inversions(a) + inversions(b);
  a.sort((x, y) => x - y);
  b.sort((x, y) => x - y);
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x) j++;
    count += j;
  }
  return count;
}

describe('rank statistics', () => {
  it('hand-computed values without ties', () => {
    const x = [1, 2, 3, 4, 5];
    const y = [2, 1, 4, 3, 5];
    close(kendallTau(x, y), 0.6); // 8 concordant, 2 discordant of 10 pairs
    close(spearman(x, y), 0.8); // 1 - 6 * 4 / (5 * 24)
    close(pearson(x, y), 0.8);
  });

  it('hand-computed values with ties (tau-b, average ranks)', () => {
    // pairs: 5 concordant, 1 tied in x, none discordant: tau-b = 5 / sqrt((6 - 1)(6 - 0))
    close(kendallTau([1, 2, 2, 3], [1, 3, 2, 4]), 5 / Math.sqrt(30));
    // average ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: 4.5 / sqrt(4.5 * 5)
    assert.deepEqual(averageRanks([1, 2, 2, 3]), [1, 2.5, 2.5, 4]);
    close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 4.5 / Math.sqrt(22.5));
    // the same tie in both series: tau-b is 1 (tau-a would be 5/6)
    close(kendallTau([1, 1, 2, 3], [1, 1, 2, 3]), 1);
    // ties that cancel: 1 concordant, 1 discordant
    close(kendallTau([1, 1, 2, 2], [1, 2, 1, 2]), 0);
    assert.ok(Number.isNaN(kendallTau([1, 1, 1], [1, 2, 3])));
    assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  });

  it('agrees with independent formulas on random permutations', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 20; t++) {
      const n = 5 + rng.int(60);
      const perm = Array.from(rng.permutation(n));
      const ids = Array.from({ length: n }, (_, i) => i);
      // no ties: tau = 1 - 4 D / (n (n - 1)), rho = 1 - 6 sum d^2 / (n (n^2 - 1))
      close(kendallTau(ids, perm), 1 - (4 * inversions(perm)) / (n * (n - 1)), 1e-12);
      const d2 = perm.reduce((a, p, i) => a + (p - i) ** 2, 0);
      close(spearman(ids, perm), 1 - (6 * d2) / (n * (n * n - 1)), 1e-12);
    }
  });

  it('synthetic proxies: monotone = 1, reversed = -1, noisier = lower', () => {
    const rng = new Rng(5);
    const truth = Array.from({ length: 200 }, () => 60 + 30 * rng.float());
    close(kendallTau(truth.map((t) => Math.log(t)), truth), 1);
    close(spearman(truth.map((t) => -t), truth), -1);
    const noisy = (s: number) => truth.map((t) => t + s * (rng.float() - 0.5));
    const taus = [1, 10, 100].map((s) => kendallTau(noisy(s), truth));
    assert.ok(taus[0]! > taus[1]! && taus[1]! > taus[2]!, `taus ${taus}`);
    assert.ok(taus[0]! > 0.9 && Math.abs(taus[2]!) < 0.3, `taus ${taus}`);
  });

  it('precision@top and the report of the proxy best path', () => {
    assert.deepEqual(topIndices([3, 9, 1, 9, 5], 0.4), [1, 3]); // ties by lower index
    const truth = [90, 80, 70, 60, 50, 40, 30, 20, 10, 0];
    const proxy = [7, 9, 8, 6, 5, 4, 3, 2, 1, 0]; // proxy's best is truth's second
    close(precisionAtTop(proxy, truth, 0.1), 0); // top 1: {1} vs {0}
    close(precisionAtTop(proxy, truth, 0.2), 0.5); // {1, 2} vs {0, 1}
    close(precisionAtTop(proxy, truth, 0.3), 1);
    const r = rankReport(proxy, truth);
    assert.deepEqual(r.proxyBest, { index: 1, truth: 80, truthRank: 2, regret: 10 });
    assert.equal(r.truthBest, 90);
    assert.equal(r.truthMedian, 45);
    assert.equal(r.paths, 10);
    assert.throws(() => rankReport([1], [1]), /at least 2/);
    assert.throws(() => kendallTau([1, 2], [1]), /differ in length/);
    assert.throws(() => spearman([1, Number.NaN], [1, 2]), /not finite/);
  });
});

describe('truth files and arch lists', () => {
  const shape = { numLayers: 3, numChoices: 4 };
  const dir = mkdtempSync(join(tmpdir(), 'gnas-truth-'));

  it('reads percents, fractions and {accuracy} objects', () => {
    assert.deepEqual(
      parseTruth({ '0-1-2': 91.5, '3-3-3': { accuracy: 88 } }, shape, 't').map((e) => [e.key, e.accuracy]),
      [['0-1-2', 91.5], ['3-3-3', 88]],
    );
    assert.deepEqual(parseTruth({ '0-1-2': 0.915, '3-3-3': { accuracy: 0.88 } }, shape, 't').map((e) => e.accuracy), [91.5, 88]);
  });

  it('names the key that is not in the space, and bad values', () => {
    assert.throws(() => parseTruth({ '0-1-2': 90, '0-1-7': 80 }, shape, 'f.json'), (e: Error) => e instanceof TruthFileError && /f\.json: key: '0-1-7' is not a path/.test(e.message));
    assert.throws(() => parseTruth({ '0-1': 90 }, shape, 'f.json'), /'0-1' is not a path/);
    assert.throws(() => parseTruth({ '0-1-2x': 90 }, shape, 'f.json'), /'0-1-2x' is not a path/);
    assert.throws(() => parseTruth({ '0-1-2': 'high' }, shape, 'f.json'), /'0-1-2': expected an accuracy/);
    assert.throws(() => parseTruth({ '0-1-2': 190 }, shape, 'f.json'), /expected an accuracy/);
    assert.throws(() => parseTruth([1, 2], shape, 'f.json'), /expected a JSON object/);
    assert.throws(() => parseTruth({}, shape, 'f.json'), /holds no path/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"0-1-2": 9');
    assert.throws(() => readTruthFile(bad, shape), /bad\.json: not valid JSON/);
    assert.throws(() => readTruthFile(join(dir, 'missing.json'), shape), /missing\.json: cannot read \(ENOENT\)/);
  });

  it('reads arch lists as lines or JSON, skipping comments and repeats', () => {
    const lines = join(dir, 'a.txt');
    writeFileSync(lines, '# best paths\n0-1-2\n\n3-3-3  # a comment\n0-1-2\n');
    assert.deepEqual(readArchList(lines, shape), [[0, 1, 2], [3, 3, 3]]);
    const json = join(dir, 'a.json');
    writeFileSync(json, '["0-1-2", [1, 1, 1]]');
    assert.deepEqual(readArchList(json, shape), [[0, 1, 2], [1, 1, 1]]);
    writeFileSync(lines, '0-1-2\n0-1-9\n');
    assert.throws(() => readArchList(lines, shape), /a\.txt: line 2: '0-1-9' is not a path/);
  });
});
