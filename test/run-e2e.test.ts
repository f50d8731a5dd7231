// The README's main command, as a user runs it: `node dist/run.js run` on the shipped
// Fashion-MNIST subset with the default settings, every output it promises checked, and the
// promises of the default job about the method (docs/method.md): the supernet learns (random
// probe paths >= 60% held-out accuracy), the stopping rule only fires on a full pool, and the
// searched path is compared with random paths of the same FLOPs. Its duration is printed, not
// asserted (timings belong to benchmarks); on two cores it takes about 2.5 minutes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { packageRoot } from '../src/util/package-root.js';

test('`run` with the defaults on the shipped subset demonstrates the method and writes every output', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'gnas-e2e-')), 'run');
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'run.js'), 'run', '--out', out], { encoding: 'utf8', timeout: 1_500_000 });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr.slice(-3000)}`);
  console.log(`# default run: ${seconds.toFixed(0)} s`);
  for (const f of ['config.json', 'split.json', 'log.jsonl', 'pool.json', 'search.json', 'results.json', 'training-curves.svg', 'training-curves.png', 'eps-pi.svg', 'eps-pi.png', 'pool-histogram.png', 'search-generations.png']) {
    assert.ok(existsSync(join(out, f)), `missing ${f}`);
  }
  const files = readdirSync(out);
  const onnx = files.find((f) => f.endsWith('.onnx'));
  assert.ok(onnx, 'no ONNX model');
  assert.ok(files.includes(onnx.replace(/\.onnx$/, '.check.json')), 'no check file beside the model');
  assert.ok(files.includes(onnx.replace(/\.onnx$/, '.profile.json')), 'no latency profile');
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    supernet: { iterations: number; stoppedBy: string; epochs: Array<{ trainAccuracy: number; probeAccuracy: number; poolFull?: boolean; pi?: number }> };
    comparison: { random: Array<{ arch: string; flops: number; testAccuracy: number }>; searched: { flops: number; testAccuracy: number }; verdict: string };
    search: { best: Array<{ arch: number[]; accuracy: number }> };
    retrain: { testAccuracy: number; testImages: number };
    export: { parity: { passed: boolean; maxRelDiff: number } };
  };
  assert.ok(results.supernet.iterations > 0);
  const last = results.supernet.epochs.at(-1)!;
  assert.ok(last.probeAccuracy >= 0.6, `random probe paths reach ${last.probeAccuracy} held-out accuracy`);
  if (results.supernet.stoppedBy.startsWith('pool turnover')) assert.equal(last.poolFull, true, 'the stopping rule fired on a pool that was not full');
  assert.ok(results.comparison.random.length >= 3);
  for (const x of results.comparison.random) assert.ok(Math.abs(x.flops / results.comparison.searched.flops - 1) <= 0.1 + 1e-9);
  assert.match(r.stdout, /the searched path \([\d.]+%\) is (NOT )?better than random paths of the same FLOPs/);
  assert.ok(results.search.best.length > 0);
  // Fashion-MNIST after a few epochs on 5,400 images: far above chance (10%).
  assert.ok(results.retrain.testAccuracy > 0.5, `test accuracy ${results.retrain.testAccuracy}`);
  assert.equal(results.retrain.testImages, 1000);
  assert.ok(results.export.parity.passed);
  assert.ok(results.export.parity.maxRelDiff < 1e-4);
  // every GreedyNAS round is in the log, with its paths, scores and kept set
  const rounds = readFileSync(join(out, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; paths?: string[]; scores?: number[]; kept?: number[] })
    .filter((l) => l.type === 'round');
  assert.ok(rounds.length > 0);
  for (const round of rounds) {
    assert.equal(round.paths!.length, 10);
    assert.equal(round.scores!.length, 10);
    assert.equal(round.kept!.length, 5);
  }
});
