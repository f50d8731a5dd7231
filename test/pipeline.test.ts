// The pipeline end to end: resume exactness of supernet training, a killed CLI run resumed,
// the CLI's handling of bad input, and a full `run` on the shipped subset writing every output.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { DEFAULTS, checkConfig, type RunConfig } from '../src/pipeline/config.js';
import { prepare } from '../src/pipeline/prepare.js';
import { trainSupernet } from '../src/pipeline/train-supernet.js';
import { packageRoot } from '../src/util/package-root.js';
import { miniSpace } from './helpers/spaces.js';

const root = packageRoot();
const runJs = join(root, 'dist', 'run.js');

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A run of the mini space (test/helpers/spaces.ts) on the shipped data, one epoch: CPU tests stay fast. */
function miniConfig(dir: string, extra: Partial<RunConfig> = {}): RunConfig {
  const spaceFile = join(dir, 'mini.json');
  if (!existsSync(spaceFile)) writeFileSync(spaceFile, JSON.stringify(miniSpace()));
  return checkConfig({ ...DEFAULTS, space: spaceFile, data: 'fmnist-mini', out: join(dir, 'run'), batch: 64, epochs: 1, valImages: 100, checkpointEvery: 5, threads: 2, ...extra });
}

const quiet = { log: () => undefined, quiet: true };

describe('supernet training resume', () => {
  for (const sampler of ['greedy', 'uniform', 'fair'] as const) {
    test(`${sampler}: N iterations + resume + N equals 2N straight (weights bit-identical, same pool)`, async () => {
      const N = sampler === 'fair' ? 6 : 10; // fair steps take 3 iterations each
      const a = tmp(`gnas-straight-${sampler}-`);
      const b = tmp(`gnas-resumed-${sampler}-`);
      const straight = await trainSupernet(await prepare(miniConfig(a, { sampler })), { ...quiet, resume: false, stopAfterIterations: 2 * N });
      const first = await trainSupernet(await prepare(miniConfig(b, { sampler })), { ...quiet, resume: false, stopAfterIterations: N });
      assert.equal(first.iterations, N);
      const resumed = await trainSupernet(await prepare(miniConfig(b, { sampler })), { ...quiet, resume: true, stopAfterIterations: N });
      assert.equal(resumed.iterations, straight.iterations);
      for (const t of straight.net.tensorInfo()) {
        const x = Buffer.from(straight.net.getTensor(t.name).buffer);
        const y = Buffer.from(resumed.net.getTensor(t.name).buffer);
        assert.ok(x.equals(y), `${t.name} differs after resume`);
      }
      if (sampler === 'greedy') {
        assert.deepEqual(resumed.pool!.toJSON(), straight.pool!.toJSON());
        assert.ok(straight.pool!.size > 0);
      }
      // the resumed log holds the same records as the straight one (no duplicates of redone work)
      const lines = (dir: string) => readFileSync(join(dir, 'run', 'log.jsonl'), 'utf8').trim().split('\n').length;
      assert.equal(lines(b), lines(a));
    });
  }

  test('a corrupt newest checkpoint is refused with a clear message and the previous one is used', async () => {
    const d = tmp('gnas-corrupt-');
    await trainSupernet(await prepare(miniConfig(d)), { ...quiet, resume: false, stopAfterIterations: 12 });
    const folder = join(d, 'run', 'checkpoints');
    const files = readdirSync(folder).sort();
    assert.ok(files.length >= 2, `expected two checkpoints, got ${files.join(', ')}`);
    writeFileSync(join(folder, files[files.length - 1]!), 'garbage');
    const warnings: string[] = [];
    const r = await trainSupernet(await prepare(miniConfig(d)), { log: (l) => warnings.push(l), quiet: true, resume: true, stopAfterIterations: 1 });
    assert.ok(warnings.some((w) => /refused: .*not a greedynas checkpoint/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /resumed from .*supernet-000000010/.test(w)), warnings.join('\n'));
    assert.equal(r.iterations, 11);
  });
});

describe('prepare', () => {
  test('says when greedy rounds get fewer held-out images than asked for, and is silent otherwise', async () => {
    const said = async (valImages: number) => {
      const lines: string[] = [];
      await prepare(miniConfig(tmp('gnas-val-images-'), { valImages }), { log: (l) => lines.push(l) });
      return lines.filter((l) => l.startsWith('greedy rounds score'));
    };
    const reduced = await said(5000);
    assert.equal(reduced.length, 1);
    assert.match(reduced[0]!, /^greedy rounds score \d+ held-out images, not --val-images 5000: the held-out split has \d+/);
    assert.deepEqual(await said(100), []);
  });
});

describe('CLI', () => {
  test('bad options, spaces and data are rejected with a message naming them', () => {
    const d = tmp('gnas-cli-');
    const run = (...args: string[]) => spawnSync(process.execPath, [runJs, ...args], { encoding: 'utf8' });
    let r = run('train-supernet', '--epochs', 'many');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--epochs: expected a number/);
    r = run('train-supernet', '--sampler', 'best');
    assert.match(r.stderr, /--sampler: expected one of uniform, fair, greedy/);
    r = run('train-supernet', '--k', '11');
    assert.match(r.stderr, /--k 11 cannot exceed --m 10/);
    r = run('train-supernet', '--gpus', '2');
    assert.match(r.stderr, /--gpus 2: the cuda backend (is not in this build|needs 2 device\(s\))/);
    r = run('train-supernet', '--sampler', 'fair', '--flops-max', '5M');
    assert.match(r.stderr, /cannot honour a FLOPs/);
    r = run('train-supernet', '--frobnicate');
    assert.match(r.stderr, /Unknown option '--frobnicate'/);
    r = run('describe', '--space', 'no-such-space');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no-such-space/);
    const bad = join(d, 'bad.json');
    writeFileSync(bad, JSON.stringify(miniSpace({ stages: [{ width: 8, layers: 2, stride: 3 }] })));
    r = run('describe', '--space', bad);
    assert.match(r.stderr, /space.stages\[0\].stride: expected 1 or 2, got 3/);
    writeFileSync(bad, '{"name": "x",, }');
    r = run('describe', '--space', bad);
    assert.match(r.stderr, /line 1/);
    r = run('train-supernet', '--data', join(d, 'nothing-here'), '--out', join(d, 'o'));
    assert.match(r.stderr, /no such dataset/);
    const cfg = join(d, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ epochz: 3 }));
    r = run('train-supernet', '--config', cfg);
    assert.match(r.stderr, /unknown setting 'epochz'/);
    r = run('search', '--out', join(d, 'empty-run'));
    assert.match(r.stderr, /no supernet checkpoint/);
    for (const cmd of ['train-supernet', 'search', 'retrain', 'run', 'describe', 'export', 'profile']) {
      r = run(cmd, '--help');
      assert.equal(r.status, 0, cmd);
      assert.match(r.stdout, new RegExp(`usage: node dist/run.js ${cmd}`));
    }
  });

  test('a run killed mid-epoch resumes from its last checkpoint and finishes', async () => {
    const d = tmp('gnas-kill-');
    const cfg = miniConfig(d);
    const args = [runJs, 'train-supernet', '--space', cfg.space, '--out', cfg.out, '--batch', '64', '--epochs', '1', '--val-images', '100', '--checkpoint-every', '5', '--quiet'];
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const folder = join(cfg.out, 'checkpoints');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(folder) && readdirSync(folder).some((f) => f.endsWith('.ckpt')))) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    assert.ok(readdirSync(folder).some((f) => f.endsWith('.ckpt')), 'no checkpoint was written before the kill');
    const r = spawnSync(process.execPath, [...args.slice(0, -1), '--resume', '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /resumed from .*supernet-/);
    assert.match(r.stdout, /supernet training finished/);
    const results = JSON.parse(readFileSync(join(cfg.out, 'results.json'), 'utf8')) as { supernet: { iterations: number } };
    assert.equal(results.supernet.iterations, 84); // 5400 training images / 64 per batch
  });
});
