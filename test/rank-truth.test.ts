// `truth` and `rank` as a user runs them, on the shipped data with tiny budgets: ground truth is
// resumable (--resume) and refuses another recipe; `rank --truth` reports statistics that agree with the
// paths it writes; bad truth keys are named. Plus the rules that size a greedy run and split the
// held-out images (docs/method.md).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { kendallTau, spearman } from '../src/analysis/rank-stats.js';
import { costTable } from '../src/space/cost.js';
import { loadSpace } from '../src/space/presets.js';
import { allPaths, samplePaths } from '../src/pipeline/path-sets.js';
import { DEFAULTS, poolCapacityFor, scoringImagesFor } from '../src/pipeline/config.js';
import { partitionHeldOut, perClassSubset } from '../src/pipeline/prepare.js';
import type { Dataset } from '../src/data/index.js';
import { packageRoot } from '../src/util/package-root.js';

const cli = (args: string[]) => spawnSync(process.execPath, [join(packageRoot(), 'dist', 'run.js'), ...args], { encoding: 'utf8', timeout: 600_000 });
const small = ['--space', 'fmnist-small', '--threads', '2', '--quiet'];

describe('truth and rank (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gnas-rank-'));
  const run = join(dir, 'run');
  const truthDir = join(dir, 'truth');

  it('truth trains paths, resumes path by path and refuses another recipe', () => {
    // Two epochs: after one, fmnist-small paths sit near chance (10-28% test accuracy, the path
    // 1-0-1-1-1-2 exactly 10% on one build, 11.9% on another); after two all three read 76-77%.
    let r = cli(['truth', ...small, '--sample', '2', '--retrain-epochs', '2', '--out', truthDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 paths, 0 already in .*, 2 to train/);
    r = cli(['truth', ...small, '--sample', '3', '--retrain-epochs', '2', '--out', truthDir]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /already holds a run .*: continue it with --resume/);
    r = cli(['truth', ...small, '--sample', '3', '--retrain-epochs', '2', '--resume', '--out', truthDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 paths, 2 already in .*, 1 to train/);
    const truth = JSON.parse(readFileSync(join(truthDir, 'truth.json'), 'utf8')) as Record<string, { accuracy: number; heldOutAccuracy: number; flops: number }>;
    assert.equal(Object.keys(truth).length, 3);
    for (const t of Object.values(truth)) {
      assert.ok(t.accuracy > 40 && t.accuracy <= 100, `accuracy ${t.accuracy}`); // far above chance (10%)
      assert.ok(t.heldOutAccuracy > 40 && t.flops > 0, `held-out accuracy ${t.heldOutAccuracy}`);
    }
    const record = readFileSync(join(truthDir, 'config.json'));
    r = cli(['truth', ...small, '--sample', '3', '--retrain-epochs', '3', '--resume', '--out', truthDir]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /another recipe \(retrainEpochs: 2 there, 3 now\)/);
    assert.ok(readFileSync(join(truthDir, 'config.json')).equals(record), 'a refused truth rerun rewrote config.json');
  });

  it('rank --truth scores the truth paths and reports statistics consistent with rank.json', () => {
    let r = cli(['train-supernet', ...small, '--sampler', 'uniform', '--epochs', '1', '--out', run]);
    assert.equal(r.status, 0, r.stderr);
    r = cli(['rank', '--out', run, '--threads', '2', '--quiet', '--truth', join(truthDir, 'truth.json')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /vs stand-alone truth, proxy loss: Kendall tau/);
    assert.match(r.stdout, /Table 3 protocol/);
    const out = JSON.parse(readFileSync(join(run, 'rank.json'), 'utf8')) as {
      paths: Array<{ loss: number; truth: number; fullAccuracy: number }>;
      byLoss: { kendallTau: number; spearman: number; paths: number };
      table3: { kendallTau: number };
    };
    assert.equal(out.paths.length, 3);
    assert.equal(out.byLoss.paths, 3);
    const tau = kendallTau(out.paths.map((p) => -p.loss), out.paths.map((p) => p.truth));
    assert.equal(out.byLoss.kendallTau, tau);
    assert.equal(out.byLoss.spearman, spearman(out.paths.map((p) => -p.loss), out.paths.map((p) => p.truth)));
    assert.equal(out.table3.kendallTau, kendallTau(out.paths.map((p) => -p.loss), out.paths.map((p) => p.fullAccuracy)));
    assert.ok(existsSync(join(run, 'rank-scatter.png')) && existsSync(join(run, 'rank-scatter.svg')));
  });

  it('rank names a truth key that is not in the space, and refuses mixed path sources', () => {
    const bad = join(dir, 'bad-truth.json');
    writeFileSync(bad, JSON.stringify({ '0-1-2-3-0-1': 80, '0-1-2-3-0-9': 70 }));
    let r = cli(['rank', '--out', run, '--quiet', '--truth', bad]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /'0-1-2-3-0-9' is not a path of this space/);
    r = cli(['rank', '--out', run, '--quiet', '--sample', '3', '--all']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /give one of --archs FILE, --sample N and --all/);
    r = cli(['train-supernet', '--sample', '3', '--out', join(dir, 'x')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--sample does not apply to 'train-supernet'/);
  });
});

describe('path sets and the sizing rules', () => {
  const costs = costTable(loadSpace('fmnist-small'));

  it('--all enumerates the space under the budget; --sample draws distinct paths under it', () => {
    const all = allPaths(costs, costs, { flops: 3e6 });
    assert.ok(all.length > 0 && all.length < 4096);
    assert.ok(all.every((a) => costs.archFlops(a) <= 3e6));
    assert.equal(allPaths(costs, costs, {}).length, 4096);
    assert.throws(() => allPaths(costTable(loadSpace('fmnist')), costTable(loadSpace('fmnist')), {}), /more than 100000/);
    const s = samplePaths(costs, { flops: 3e6 }, 40, 1);
    assert.equal(new Set(s.map((a) => a.join('-'))).size, 40);
    assert.deepEqual(samplePaths(costs, { flops: 3e6 }, 40, 1), s); // seeded
  });

  it('scoring images keep the paper cost ratio with a floor; the pool fills in about an epoch', () => {
    assert.equal(scoringImagesFor({ valImages: null, m: 10, k: 5, batch: 1024 }), 1024); // paper: 10 x 1,000 : 5 x 1,024
    assert.equal(scoringImagesFor({ valImages: null, m: 10, k: 5, batch: 64 }), 250); // floor
    assert.equal(scoringImagesFor({ valImages: 600, m: 10, k: 5, batch: 64 }), 600);
    assert.equal(poolCapacityFor({ poolSize: null, k: 5 }, 1251), 1000); // ImageNet at batch 1,024
    assert.equal(poolCapacityFor({ poolSize: null, k: 5 }, 84), 67);
    assert.equal(poolCapacityFor({ poolSize: null, k: 5 }, 3), 5);
    assert.equal(poolCapacityFor({ poolSize: 20, k: 5 }, 84), 20);
  });

  it('the held-out split falls into disjoint round-scoring and search parts; per-class subsets are stratified', () => {
    const n = 600;
    const ds: Dataset = { images: new Uint8Array(n).map((_, i) => i % 256), labels: Int32Array.from({ length: n }, (_, i) => i % 10), height: 1, width: 1, channels: 1, classes: 10 };
    const { roundScoring, searchSet } = partitionHeldOut(ds, { ...DEFAULTS });
    assert.equal(roundScoring.labels.length, 250);
    assert.equal(searchSet.labels.length, 350);
    const tagged = { ...ds, images: Uint8Array.from({ length: n }, (_, i) => i % 251) }; // 600 distinct (pixel, label) pairs
    const parts = partitionHeldOut(tagged, { ...DEFAULTS });
    const key = (d: Dataset, i: number) => `${d.images[i]}:${d.labels[i]}`;
    const a = new Set(Array.from({ length: 250 }, (_, i) => key(parts.roundScoring, i)));
    for (let i = 0; i < 350; i++) assert.ok(!a.has(key(parts.searchSet, i)), 'an image is in both parts');
    assert.equal(partitionHeldOut(ds, { ...DEFAULTS, valImages: 1000 }).roundScoring.labels.length, 300); // at most half
    assert.equal(partitionHeldOut(ds, { ...DEFAULTS, redrawScoringBatch: true }).roundScoring.labels.length, 300); // redraws draw from half
    const sub = perClassSubset(ds, 7, 3);
    assert.equal(sub.labels.length, 70);
    for (let c = 0; c < 10; c++) assert.equal(sub.labels.filter((l) => l === c).length, 7);
  });
});
