// kill -9 exactness (issue 10): `train-supernet` (greedy sampler, so that a candidate pool exists)
// killed with SIGKILL at random points and resumed with --resume ends exactly where an
// uninterrupted run ends: the same weights AND momentum buffers (the checkpoint files' tensor
// payloads byte for byte), the same trainer state in the checkpoints, the same pool.json, the
// same log.jsonl records, metrics.csv and results, apart from wall-clock fields and the run id.
// Two kinds of kill: at a random number of log lines (twice: the resumed process is killed too),
// and while a checkpoint is being written (a `*.ckpt.tmp-PID` file exists). The kill points come
// from a seed printed by the test: GNAS_CRASH_SEED=<seed> reproduces a failure.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';

import { packageRoot } from '../src/util/package-root.js';
import { MINI_SPACE_FILE } from './helpers/spaces.js';
import { Rng } from '../src/util/rng.js';

const runJs = join(packageRoot(), 'dist', 'run.js');

/** A small space on 28x28x1 inputs (the one of test/pipeline.test.ts): a whole run is ~2 s of training on one thread. */
const spaceFile = MINI_SPACE_FILE;

const seed = process.env.GNAS_CRASH_SEED !== undefined ? Number(process.env.GNAS_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
const repro = `(kill points from seed ${seed}: rerun with GNAS_CRASH_SEED=${seed})`;
console.log(`crash-exact: ${repro}`);

const d = mkdtempSync(join(tmpdir(), 'gnas-crash-'));

/**
 * 4 epochs of 22 iterations (360 training images, batch 16), greedy from iteration 22 with m=4,
 * k=2, a checkpoint every 3 iterations and at each epoch end: ~32 checkpoints, ~125 log lines.
 * The stopping rule is off so that every run trains all 88 iterations. One thread: bit-exact.
 */
const FMNIST = ['--data', 'fmnist-mini', '--train-per-class', '40'];
const trainArgs = (out: string, data: string[] = FMNIST) => [
  runJs, 'train-supernet', '--space', spaceFile, ...data, '--batch', '16', '--epochs', '4',
  '--m', '4', '--k', '2', '--greedy-warmup', '0.25', '--val-images', '32', '--checkpoint-every', '3', '--threads', '1', '--no-stopping', '--quiet', '--out', out,
];
const TOTAL_ITERATIONS = 88;

function runToEnd(out: string, resume: boolean, data?: string[]): string {
  const r = spawnSync(process.execPath, [...trainArgs(out, data), ...(resume ? ['--resume'] : [])], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${repro}`);
  assert.match(r.stdout, new RegExp(`supernet training finished: epoch cap \\(4 epochs\\), ${TOTAL_ITERATIONS} iterations`));
  return r.stdout;
}

/** Starts a training process whose output goes to a file (the parent polls without an event loop). */
function start(out: string, resume: boolean, data?: string[]): { child: ChildProcess; exited: Promise<number | null> } {
  const fd = openSync(join(d, `child-${Date.now()}.txt`), 'w');
  const child = spawn(process.execPath, [...trainArgs(out, data), ...(resume ? ['--resume'] : [])], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, exited };
}

/**
 * Polls without yielding (a kill within microseconds of the condition, e.g. while a checkpoint's
 * temporary file exists) until `when()` holds, then sends SIGKILL. Returns false when the run
 * finished (results.json written) or the deadline passed without the condition.
 */
async function killWhen(out: string, p: { child: ChildProcess; exited: Promise<number | null> }, when: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  let hit = false;
  while (Date.now() < deadline && !existsSync(join(out, 'results.json'))) {
    if (when()) {
      hit = true;
      break;
    }
  }
  p.child.kill('SIGKILL');
  await p.exited;
  return hit;
}

const logLines = (out: string) => (existsSync(join(out, 'log.jsonl')) ? readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').length - 1 : 0);
const checkpointFiles = (out: string) => (existsSync(join(out, 'checkpoints')) ? readdirSync(join(out, 'checkpoints')).sort() : []);

/**
 * Drops, at any depth, what legitimately differs between two runs: wall-clock fields, the run id,
 * and the log's byte length (the log's `seconds` fields are written with as many digits as they
 * need); assertSameEnd checks the byte length against the run's own log instead.
 */
function timeless(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(timeless);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !['seconds', 'time', 'updated', 'runId', 'logBytes'].includes(k))
      .map(([k, x]) => [k, timeless(x)]),
  );
}

/**
 * A checkpoint file as written by native/supernet/checkpoint.cpp: magic, version, tensor table,
 * extra JSON (the trainer's state), then the values and momentum (velocity) arrays, checksum.
 */
function readCheckpoint(file: string): { table: Buffer; state: unknown; values: Buffer; velocities: Buffer } {
  const b = readFileSync(file);
  assert.equal(b.subarray(0, 8).toString('latin1'), 'GNASCKPT', file);
  let pos = 12;
  const count = b.readUInt32LE(pos);
  pos += 4;
  const tableStart = pos;
  for (let i = 0; i < count; i++) {
    const len = b.readUInt16LE(pos);
    pos += 2 + len + 1;
    const rank = b.readUInt8(pos);
    pos += 1 + 4 * rank;
  }
  const table = b.subarray(tableStart, pos);
  const extraLen = Number(b.readBigUInt64LE(pos));
  pos += 8;
  const state = JSON.parse(b.subarray(pos, pos + extraLen).toString('utf8')) as unknown;
  pos += extraLen;
  const total = Number(b.readBigUInt64LE(pos));
  pos += 8;
  const values = b.subarray(pos, pos + 4 * total);
  const velocities = b.subarray(pos + 4 * total, pos + 8 * total);
  assert.equal(pos + 8 * total + 8, b.length, `${file}: unexpected layout`);
  return { table, state, values, velocities };
}

/** metrics.csv without its seconds column. */
function metricsWithoutTime(out: string): string[][] {
  const rows = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  const col = rows[0]!.indexOf('seconds');
  assert.ok(col >= 0, 'metrics.csv has no seconds column');
  return rows.map((r) => r.filter((_, i) => i !== col));
}

/** Asserts that run `b` ended exactly where the uninterrupted run `a` ended. */
function assertSameEnd(a: string, b: string, what: string): void {
  const msg = (s: string) => `${what}: ${s} ${repro}`;
  // the newest two checkpoints of each run, by iteration (names carry each run's own id)
  const iters = (out: string) => checkpointFiles(out).map((f) => /^supernet-(\d+)-[0-9a-f]+\.ckpt$/.exec(f)?.[1] ?? f);
  assert.deepEqual(iters(b), iters(a), msg('other checkpoint files'));
  const [fa, fb] = [checkpointFiles(a), checkpointFiles(b)];
  for (let i = 0; i < fa.length; i++) {
    const x = readCheckpoint(join(a, 'checkpoints', fa[i]!));
    const y = readCheckpoint(join(b, 'checkpoints', fb[i]!));
    assert.ok(x.table.equals(y.table), msg(`${fb[i]}: other tensor table`));
    assert.ok(x.values.equals(y.values), msg(`${fb[i]}: weights differ`));
    assert.ok(x.velocities.equals(y.velocities), msg(`${fb[i]}: momentum buffers differ`));
    assert.deepEqual(timeless(y.state), timeless(x.state), msg(`${fb[i]}: trainer state (sampler, pool, loader, history) differs`));
  }
  // the newest checkpoint holds the whole log: a later resume would keep all of it
  const newest = readCheckpoint(join(b, 'checkpoints', fb[fb.length - 1]!)).state as { logBytes: number };
  assert.equal(newest.logBytes, readFileSync(join(b, 'log.jsonl')).length, msg('the newest checkpoint does not hold the whole log'));
  assert.equal(readFileSync(join(b, 'pool.json'), 'utf8'), readFileSync(join(a, 'pool.json'), 'utf8'), msg('pool.json differs'));
  const records = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => timeless(JSON.parse(l)));
  const [la, lb] = [records(a), records(b)];
  assert.equal(lb.length, la.length, msg('log.jsonl has another number of records'));
  for (let i = 0; i < la.length; i++) assert.deepEqual(lb[i], la[i], msg(`log.jsonl record ${i + 1} differs`));
  assert.deepEqual(metricsWithoutTime(b), metricsWithoutTime(a), msg('metrics.csv differs'));
  // results.json names the final checkpoint by its path, which holds the run directory and run id
  const results = (out: string) => {
    const r = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { supernet: { checkpoint: string } }).supernet;
    return timeless({ ...r, checkpoint: /supernet-(\d+)-[0-9a-f]+\.ckpt$/.exec(r.checkpoint)?.[1] ?? r.checkpoint });
  };
  assert.deepEqual(results(b), results(a), msg('results.json differs'));
  // no temporary file is left, and the same outputs exist
  const names = (out: string) => readdirSync(out).sort();
  assert.deepEqual(names(b), names(a), msg('other files in the run directory'));
  assert.deepEqual(checkpointFiles(b).filter((f) => f.includes('.tmp-')), [], msg('a temporary checkpoint file was left'));
}

describe('kill -9 and --resume end exactly like an uninterrupted run', () => {
  const killPoints = new Rng(seed);
  const rand = (n: number) => killPoints.int(n);
  const straight = join(d, 'straight');

  test('the uninterrupted run', () => {
    runToEnd(straight, false);
    assert.equal(checkpointFiles(straight).length, 2);
    assert.ok((JSON.parse(readFileSync(join(straight, 'pool.json'), 'utf8')) as { entries: unknown[] }).entries.length > 0, 'the pool is empty');
  });

  test('killed at two random log lines (the second kill in the resumed process), resumed to the end', async () => {
    const out = join(d, 'killed-at-lines');
    const first = 1 + rand(64);
    const second = first + 10 + rand(110 - first);
    const lines: number[] = [];
    for (const [i, target] of [first, second].entries()) {
      const p = start(out, i > 0);
      assert.ok(await killWhen(out, p, () => logLines(out) >= target), `the run ended before log line ${target} ${repro}`);
      lines.push(logLines(out));
    }
    console.log(`crash-exact: killed at log lines ${lines.join(' and ')} (targets ${first}, ${second})`);
    const stdout = runToEnd(out, true);
    assert.match(stdout, /resumed from .*supernet-\d+-[0-9a-f]+\.ckpt at iteration \d+|no checkpoint to resume from/);
    assertSameEnd(straight, out, `killed at log lines ${lines.join(', ')}`);
  });

  test('killed while a checkpoint is being written (its temporary file exists), resumed to the end', async () => {
    const out = join(d, 'killed-in-checkpoint');
    // at the n-th checkpoint of ~32 or the first one after it whose temporary file the poll sees:
    // checkpoints are counted by the names seen, final or temporary, since the final files stay
    // for two checkpoint periods while a temporary one lives for a few milliseconds, which a poll
    // that shares two cores with the run's two threads can miss. A kill that lands just after the
    // rename (a race of microseconds) leaves no temporary file: then the resumed process is killed
    // at its next checkpoint, up to 5 times.
    let nth = 1 + rand(24);
    const kills: string[] = [];
    let tmpLeft: string | undefined;
    for (let attempt = 0; attempt < 5 && tmpLeft === undefined; attempt++) {
      const p = start(out, attempt > 0);
      const seen = new Set<string>(checkpointFiles(out).map((n) => n.replace(/\.tmp-\d+$/, '')));
      const before = seen.size;  // a resumed run's old checkpoints do not count
      const hit = await killWhen(out, p, () => {
        const names = checkpointFiles(out);
        for (const n of names) seen.add(n.replace(/\.tmp-\d+$/, ''));
        return seen.size - before >= nth && names.some((n) => n.includes('.ckpt.tmp-'));
      });
      assert.ok(hit, `the run ended before its checkpoint number ${nth} ${repro}`);
      tmpLeft = checkpointFiles(out).find((f) => f.includes('.ckpt.tmp-'));
      kills.push(`${attempt === 0 ? `checkpoint ${nth}` : 'the next checkpoint'}: ${tmpLeft ?? 'after the rename'}`);
      nth = 1;
    }
    console.log(`crash-exact: killed in ${kills.join('; ')}`);
    assert.ok(tmpLeft, `no kill landed while a temporary checkpoint file existed ${repro}`);
    const pid = /\.tmp-(\d+)$/.exec(tmpLeft)![1];
    const stdout = runToEnd(out, true);
    assert.ok(stdout.includes(`${tmpLeft}: a temporary file of process ${pid}, which no longer runs`), `the orphan was not reported:\n${stdout}`);
    assertSameEnd(straight, out, `killed in ${kills.join('; ')}`);
  });
});

/** An ImageNet-layout folder of 28x28 grey JPEGs: 10 classes x 40 training images (the 360 + 40 of the runs above), 5 test images each. */
async function makeJpegFolder(root: string): Promise<void> {
  for (const [split, n] of [['train', 40], ['test', 5]] as const) {
    for (let c = 0; c < 10; c++) {
      mkdirSync(join(root, split, `c${c}`), { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(28 * 28);
        for (let k = 0; k < px.length; k++) px[k] = ((k % 28) * (c + 1) * 9 + Math.floor(k / 28) * (i + 3) * 5) & 255;
        await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).jpeg({ quality: 90 }).toFile(join(root, split, `c${c}`, `${i}.jpg`));
      }
    }
  }
}

describe('a streamed image folder: the same run as in memory, and kill -9 + --resume exact', () => {
  const killPoints = new Rng(seed, 1); // its own stream beside the in-memory describe's Rng(seed)
  const rand = (n: number) => killPoints.int(n);
  const folder = join(d, 'jpegs');
  const memory = ['--data', folder, '--data-mode', 'memory'];
  const stream = ['--data', folder, '--data-mode', 'stream'];
  const inMemory = join(d, 'folder-memory');
  const streamed = join(d, 'folder-stream');

  test('streamed training ends exactly where in-memory training ends', async () => {
    await makeJpegFolder(folder);
    process.env['GREEDYNAS_CACHE_DIR'] = join(d, 'cache');
    assert.match(runToEnd(inMemory, false, memory), /data: decoded into memory \(forced/);
    assert.match(runToEnd(streamed, false, stream), /data: training images streamed from disk by \d+ worker thread\(s\) \(forced/);
    assertSameEnd(inMemory, streamed, 'streamed vs in memory');
  });

  test('streamed, killed at a random log line, resumed to the end', async () => {
    const out = join(d, 'folder-stream-killed');
    const target = 1 + rand(100);
    const p = start(out, false, stream);
    assert.ok(await killWhen(out, p, () => logLines(out) >= target), `the run ended before log line ${target} ${repro}`);
    console.log(`crash-exact (stream): killed at log line ${logLines(out)} (target ${target})`);
    runToEnd(out, true, stream);
    assertSameEnd(inMemory, out, `streamed, killed at log line ${target}`);
  });
});
