// Divergence as a user meets it: a learning rate far too high stops `train-supernet` with exit 1
// and a message naming the iteration, path, learning rate and tensor; no checkpoint is written
// after the divergence, the one it names loads with finite weights and `--resume` continues from
// it; log.jsonl records why the run ended. --max-loss stops a runaway loss before it overflows.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { Supernet } from '../src/native/engine.js';
import { loadSpace } from '../src/space/presets.js';
import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'dist', 'run.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
const space = join(root, 'spaces', 'fmnist-small.json');
/** 180 training images, 2 iterations per epoch, a checkpoint after every iteration. */
const tiny = ['train-supernet', '--space', space, '--data', 'fmnist-mini', '--train-per-class', '20', '--batch', '64', '--sampler', 'uniform', '--threads', '1', '--checkpoint-every', '1', '--quiet'];
const explosive = ['--lr', '100', '--momentum', '1', '--weight-decay', '1', '--warmup-epochs', '0', '--epochs', '40'];

describe('divergence in train-supernet', () => {
  test('non-finite weights stop the run by name and leave the last good checkpoint to resume from', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gnas-div-cli-')), 'run');
    const r = cli(...tiny, ...explosive, '--out', out);
    assert.equal(r.status, 1, r.stderr);
    const m = /supernet training diverged at iteration (\d+) on path ([\d-]+) \(lr [\d.e+-]+\): the training step \(SGD update and BN running statistics\) produced \d+ non-finite values? in \d+ tensors? \(first: '[a-z0-9_.]+'.*the last good checkpoint is (\S+\.ckpt)\./s.exec(r.stderr);
    assert.ok(m, r.stderr);
    const [, iteration, , named] = m;
    const files = readdirSync(join(out, 'checkpoints')).sort();
    const newest = files.at(-1)!;
    assert.equal(join(out, 'checkpoints', newest), named, 'the newest checkpoint on disk is the one named');
    assert.equal(Number(/supernet-(\d+)-/.exec(newest)![1]), Number(iteration), 'it holds the weights before the diverging step');

    const net = await Supernet.create(loadSpace(space), { threads: 1 });
    await net.load(named!); // refused if it held a non-finite value
    for (const t of net.tensorInfo()) assert.ok(net.getTensor(t.name).every(Number.isFinite), t.name);
    await net.dispose();

    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; iteration?: number; message?: string });
    const last = log.at(-1)!;
    assert.equal(last.type, 'diverged');
    assert.equal(last.iteration, Number(iteration));

    // the run resumes from that checkpoint (and, with the same settings, diverges again at once)
    const again = cli(...tiny, ...explosive, '--out', out, '--resume');
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stderr, new RegExp(`diverged at iteration ${iteration} `));
  });

  test('--max-loss stops a runaway loss while it is still finite', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gnas-div-cli-')), 'run');
    const r = cli(...tiny, ...explosive, '--max-loss', '1000', '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /diverged at iteration \d+ on path [\d-]+ \(lr [\d.e+-]+\): loss [\d.]+ is above --max-loss 1000\./);
    const bad = cli(...tiny, '--max-loss', '-1', '--out', join(out, 'x'));
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--max-loss/);
  });
});
