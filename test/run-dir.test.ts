// Run directories as records (src/pipeline/run-dir.ts) and the CLI's input hygiene, as a user meets
// them, on the shipped data with tiny budgets (20 images per class: two iterations per epoch):
// a second run refuses a run directory and --force sets it aside without deleting; checkpoints
// carry the run id and a run never loads or prunes another run's files; --resume refuses other
// settings (one message naming each) unless --allow-change, and a run drawn with older random
// streams always; a failed resume leaves config.json as it was; the run's own config.json is a valid --config; --threads far above the cores is
// refused; Ctrl-C ends `run` after the checkpoint with exit 130; orphan temporary files are
// removed on start; broken run files are named with the fix. Every refused command leaves the
// run directory byte for byte as it was.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { loadSpace } from '../src/space/presets.js';
import { checkConfig, DEFAULTS } from '../src/pipeline/config.js';
import { prepare } from '../src/pipeline/prepare.js';
import { spaceHashOf } from '../src/pipeline/run-dir.js';
import { trainSupernet } from '../src/pipeline/train-supernet.js';
import { packageRoot } from '../src/util/package-root.js';
import { snapshot } from './helpers/tree.js';

const root = packageRoot();
const runJs = join(root, 'dist', 'run.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [runJs, ...args], { encoding: 'utf8', timeout: 300_000 });

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A copy of the fmnist-small space in `dir` (so that a test can change it in place). */
function spaceCopy(dir: string): string {
  const file = join(dir, 'space.json');
  copyFileSync(join(root, 'spaces', 'fmnist-small.json'), file);
  return file;
}

/** Tiny supernet training options: 180 training images, 2 iterations per epoch, one thread. */
function tiny(space: string): string[] {
  return ['--space', space, '--data', 'fmnist-mini', '--train-per-class', '20', '--batch', '64', '--sampler', 'uniform', '--threads', '1', '--checkpoint-every', '1', '--quiet'];
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const checkpoints = (dir: string) => (existsSync(join(dir, 'checkpoints')) ? readdirSync(join(dir, 'checkpoints')).sort() : []);

/** A pid that no process has now (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('run directories (CLI)', () => {
  const d = tmp('gnas-rundir-');
  const space = spaceCopy(d);
  const out = join(d, 'run');

  test('a second run refuses a run directory; --force sets it aside; checkpoints carry the run id', () => {
    let r = cli('train-supernet', ...tiny(space), '--epochs', '2', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const first = readJson(join(out, 'config.json'));
    assert.match(String(first.runId), /^[0-9a-f]{12}$/);
    assert.match(String(first.spaceHash), /^[0-9a-f]{64}$/);
    const firstFiles = checkpoints(out);
    assert.ok(firstFiles.length > 0 && firstFiles.every((f) => f.endsWith(`-${first.runId}.ckpt`)), firstFiles.join(', '));

    const before = snapshot(out);
    const refusal = /--out .*run already holds a run \(config\.json, log\.jsonl, checkpoints\/\): continue it with --resume, set it aside with --force \(moved into .*\.replaced-<time>\/, nothing is deleted\), or choose another --out/;
    for (const args of [
      ['train-supernet', ...tiny(space), '--epochs', '1', '--out', out],
      ['run', ...tiny(space), '--epochs', '1', '--out', out],
      ['truth', '--space', space, '--train-per-class', '20', '--threads', '1', '--sample', '1', '--out', out],
    ]) {
      r = cli(...args);
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, refusal);
      assert.deepEqual(snapshot(out), before, `${args[0]} changed the run directory`);
    }
    r = cli('train-supernet', ...tiny(space), '--out', out, '--resume', '--force');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /give --resume .* or --force .*, not both/);
    assert.deepEqual(snapshot(out), before);

    r = cli('train-supernet', ...tiny(space), '--epochs', '1', '--out', out, '--force');
    assert.equal(r.status, 0, r.stderr);
    const m = /--force: moved the previous contents of .* to (.*\.replaced-[^\s]+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    // the old run, whole, in .replaced-*; the new one with its own id and only its own checkpoints
    const aside = m[1]!;
    const moved = snapshot(aside);
    for (const [f, h] of Object.entries(before)) assert.equal(moved[f], h, `${f} was not kept as it was`);
    const second = readJson(join(out, 'config.json'));
    assert.notEqual(second.runId, first.runId);
    assert.equal(second.epochs, 1);
    const files = checkpoints(out);
    assert.ok(files.length > 0 && files.every((f) => f.endsWith(`-${second.runId}.ckpt`)), files.join(', '));
    const results = readJson(join(out, 'results.json')) as { supernet: { iterations: number } };
    assert.equal(results.supernet.iterations, 2);
  });

  test('the run\'s own config.json is a valid --config', () => {
    const r = cli('describe', '--config', join(out, 'config.json'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /fmnist-small/);
  });

  test('broken run files are named with the fix', () => {
    const pool = join(out, 'pool.json');
    writeFileSync(pool, '{"version": 1, "entries": [');
    let r = cli('search', '--out', out, '--threads', '1', '--quiet');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /search: pool\.json in .*run: not valid JSON \(.+\): delete it \(the search then starts from random paths\) or rerun train-supernet/);
    writeFileSync(pool, '{"entries": 3}');
    r = cli('search', '--out', out, '--threads', '1', '--quiet');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /pool\.json in .*run: pool: expected \{version: 1, .*\}: delete it/);

    writeFileSync(join(out, 'search.json'), 'not json');
    r = cli('retrain', '--out', out, '--threads', '1', '--quiet');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /retrain: search\.json in .*run: not valid JSON \(.+\): delete it and rerun `search`, or pass --arch KEY/);

    const broken = join(d, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'config.json'), '{"epochs": 2,');
    r = cli('search', '--out', broken, '--threads', '1');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /config\.json in .*broken: not valid JSON \(.+\): repair it \(it records the run's settings and run id\) or choose another --out/);

    const truth = join(d, 'truth');
    mkdirSync(truth);
    writeFileSync(join(truth, 'truth.json'), '{"0-0-0-0-0-0": ');
    r = cli('truth', '--space', space, '--train-per-class', '20', '--threads', '1', '--sample', '1', '--quiet', '--resume', '--out', truth);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /truth\.json in .*truth: not valid JSON \(.+\): repair it, or delete it to train every path again/);
  });
});

describe('--resume checks what it resumes (CLI)', () => {
  const d = tmp('gnas-resume-');
  const space = spaceCopy(d);
  const out = join(d, 'run');

  test('other settings are refused in one message naming each; the run directory is unchanged', () => {
    let r = cli('train-supernet', ...tiny(space), '--epochs', '1', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const before = snapshot(out);
    r = cli('train-supernet', '--out', out, '--resume', '--quiet', '--seed', '3', '--batch', '32', '--lr', '0.05', '--threads', '2', '--sampler', 'greedy', '--greedy-warmup', '0.5');
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^train-supernet: --resume: the settings differ from the run in .*run: --sampler: uniform in the run, greedy now; --seed: 0 in the run, 3 now; --batch: 64 in the run, 32 now; --lr: 0\.1 in the run, 0\.05 now; --greedy-warmup: 0\.2 in the run, 0\.5 now; --threads: 1 in the run, 2 now\. .*--allow-change/,
    );
    assert.deepEqual(snapshot(out), before);
    r = cli('run', '--out', out, '--resume', '--quiet', '--m', '8', '--k', '4', '--epochs', '3', '--train-per-class', '30', '--val-fraction', '0.2');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--epochs: 1 in the run, 3 now; --train-per-class: 20 in the run, 30 now; --val-fraction: 0\.1 in the run, 0\.2 now/);
    assert.match(r.stderr, /--m: 10 in the run, 8 now; --k: 5 in the run, 4 now/);
    assert.deepEqual(snapshot(out), before);

    // a space with the same tensor shapes but another activation
    writeFileSync(space, readFileSync(space, 'utf8').replace('"relu6"', '"hswish"'));
    r = cli('train-supernet', '--out', out, '--resume', '--quiet');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--space: .*space\.json \(space hash [0-9a-f]{12}\) in the run, .*space\.json \(space hash [0-9a-f]{12}\) now/);
    assert.deepEqual(snapshot(out), before);
  });

  test('--allow-change continues with the new settings and records them', () => {
    const r = cli('train-supernet', '--out', out, '--resume', '--quiet', '--allow-change');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--allow-change: continuing the run in .* with changed settings: --space: /);
    assert.match(r.stdout, /resumed from .*supernet-000000002-/);
    // the record now holds the changed space, so a plain --resume is accepted
    assert.equal(readJson(join(out, 'config.json')).spaceHash, spaceHashOf(loadSpace(space)));
    const again = cli('train-supernet', '--out', out, '--resume', '--quiet');
    assert.equal(again.status, 0, again.stderr);
  });

  test('a failed resume leaves config.json as it was', () => {
    const config = readFileSync(join(out, 'config.json'));
    for (const f of checkpoints(out)) writeFileSync(join(out, 'checkpoints', f), 'garbage');
    const r = cli('train-supernet', '--out', out, '--resume', '--quiet', '--allow-change', '--batch', '32');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no usable checkpoint in .*checkpoints/);
    assert.ok(readFileSync(join(out, 'config.json')).equals(config), 'config.json was rewritten by a failed resume');
  });

  test('a run drawn with the old random streams (no rngStreams in config.json) is refused, even with --allow-change', () => {
    const o = join(d, 'old-streams');
    let r = cli('train-supernet', ...tiny(space), '--epochs', '1', '--out', o);
    assert.equal(r.status, 0, r.stderr);
    const record = readJson(join(o, 'config.json'));
    assert.equal(record.rngStreams, 2);
    delete record.rngStreams;
    writeFileSync(join(o, 'config.json'), JSON.stringify(record));
    const before = snapshot(o);
    for (const extra of [[], ['--allow-change']]) {
      r = cli('train-supernet', '--out', o, '--resume', '--quiet', ...extra);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--resume: config\.json in .*old-streams: it records no random-stream version .* this greedynas draws with version 2, so its seeded draws would not continue as they began\. Start the run again: --force/);
      assert.deepEqual(snapshot(o), before);
    }
  });

  test('--threads far above the cores is refused, naming the limit', () => {
    const o = join(d, 'threads');
    const r = cli('train-supernet', ...tiny(space), '--epochs', '1', '--out', o, '--threads', '999');
    assert.equal(r.status, 2, r.stderr);
    const cores = availableParallelism();
    assert.match(r.stderr, new RegExp(`--threads 999: at most 4 x the ${cores} cores of this machine \\(${4 * cores}\\)`));
    assert.equal(existsSync(o), false);
  });

  test('--help names the new flags and the exit statuses', () => {
    for (const cmd of ['train-supernet', 'run', 'truth']) {
      const r = cli(cmd, '--help');
      assert.equal(r.status, 0);
      for (const flag of ['--resume', '--force', '--allow-change']) assert.match(r.stdout, new RegExp(`\\n  ${flag} +\\S`), `${cmd} --help lacks ${flag}`);
      assert.match(r.stdout, /exit status: 0 success, 1 failure, 2 usage or configuration error, 130 interrupted/);
    }
  });
});

describe('checkpoints of other runs', () => {
  test('are ignored with a message, never loaded or pruned', async () => {
    const d = tmp('gnas-other-run-');
    const config = checkConfig({ ...DEFAULTS, space: spaceCopy(d), data: 'fmnist-mini', out: join(d, 'run'), trainPerClass: 40, batch: 64, epochs: 2, sampler: 'uniform', checkpointEvery: 1, threads: 1 });
    const quiet = { log: () => undefined, quiet: true };
    const first = await trainSupernet(await prepare(config), { ...quiet, resume: false, stopAfterIterations: 3 });
    assert.equal(first.iterations, 3);
    const folder = join(config.out, 'checkpoints');
    // a file named without a run id (an older run) and one of another run, both with later iterations
    const legacy = join(folder, 'supernet-000000999.ckpt');
    const other = join(folder, 'supernet-000000998-0123456789ab.ckpt');
    writeFileSync(legacy, 'older run');
    writeFileSync(other, 'other run');
    const lines: string[] = [];
    const p = await prepare(config);
    const r = await trainSupernet(p, { log: (l) => lines.push(l), quiet: true, resume: true, stopAfterIterations: 2 });
    assert.equal(r.iterations, 5);
    assert.ok(lines.some((l) => /resumed from .*supernet-000000003-/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /supernet-000000999\.ckpt belongs to a run recorded without a run id, not to this run .*: ignored and left in place/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /supernet-000000998-0123456789ab\.ckpt belongs to run 0123456789ab/.test(l)), lines.join('\n'));
    assert.equal(readFileSync(legacy, 'utf8'), 'older run');
    assert.equal(readFileSync(other, 'utf8'), 'other run');
    assert.deepEqual(checkpoints(config.out), ['supernet-000000004-' + p.runId + '.ckpt', 'supernet-000000005-' + p.runId + '.ckpt', 'supernet-000000998-0123456789ab.ckpt', 'supernet-000000999.ckpt']);
  });
});

describe('orphan temporary files', () => {
  test('of processes that no longer run are removed on start; those of live ones are kept', async () => {
    const d = tmp('gnas-orphans-');
    const dir = join(d, 'run');
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    const dead = deadPid();
    const orphans = [join(dir, `config.json.tmp-${dead}`), join(dir, 'checkpoints', `supernet-000000005-0123456789ab.ckpt.tmp-${dead}`)];
    const live = join(dir, `pool.json.tmp-${process.pid}`);
    for (const f of [...orphans, live]) writeFileSync(f, 'partial');
    const lines: string[] = [];
    await prepare(checkConfig({ ...DEFAULTS, space: spaceCopy(d), data: 'fmnist-mini', out: dir, trainPerClass: 20, threads: 1 }), { log: (l) => lines.push(l) });
    for (const f of orphans) {
      assert.equal(existsSync(f), false, `${f} was left`);
      assert.ok(lines.some((l) => l.includes(`removed ${f}: a temporary file of process ${dead}, which no longer runs`)), lines.join('\n'));
    }
    assert.equal(existsSync(live), true);
  });
});

describe('Ctrl-C in `run`', () => {
  test('stops after the checkpoint and exits with 130, without search or retraining', async () => {
    const d = tmp('gnas-sigint-');
    const out = join(d, 'run');
    const args = [runJs, 'run', '--space', spaceCopy(d), '--data', 'fmnist-mini', '--sampler', 'uniform', '--epochs', '5', '--threads', '1', '--checkpoint-every', '2', '--quiet', '--out', out];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const deadline = Date.now() + 240_000;
    while (Date.now() < deadline && checkpoints(out).filter((f) => f.endsWith('.ckpt')).length === 0) await new Promise((res) => setTimeout(res, 50));
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, `exit ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /stopped at iteration (\d+); continue with --resume/);
    assert.doesNotMatch(stdout, /== 2\/4 search/);
    assert.match(stderr, /run: interrupted: stopped after the checkpoint at iteration \d+; continue with `run --resume --out .*run`/);
    const it = Number(/stopped at iteration (\d+)/.exec(stdout)![1]);
    assert.ok(checkpoints(out).some((f) => f.startsWith(`supernet-${String(it).padStart(9, '0')}-`)), checkpoints(out).join(', '));
    assert.equal(existsSync(join(out, 'search.json')), false);
  });
});
