// The engine never hands back a silently wrong result and never loses the process: a training
// step that makes weights non-finite is refused by name and poisons nothing on disk; inputs are
// copied when a call is made; an out-of-memory error leaves a supernet that still runs; memory
// grown for one oversized call is given back; and V8 learns what each supernet holds natively,
// so dropped supernets are collected. Memory is measured in child processes (the test runner's
// own bookkeeping would blur RSS here).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';

import { Supernet } from '../src/native/engine.js';
import { checkScoringMemory, checkTrainingMemory } from '../src/pipeline/engine-setup.js';
import type { SpaceFile } from '../src/space/types.js';
import { tinySpace } from './helpers/spaces.js';
import { Rng } from '../src/util/rng.js';

const tiny: SpaceFile = tinySpace();

function batch(n: number, seed: number): { images: Uint8Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: n * 8 * 8 * 2 }, () => rng.int(256));
  const labels = Int32Array.from({ length: n }, () => rng.int(5));
  return { images, labels };
}

const engineUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native', 'engine.js')).href;

/** Runs an ES module script in a fresh node (optionally under a shell prefix such as a ulimit) and parses its last stdout line as JSON. */
function child<T>(script: string, shellPrefix = ''): T {
  const file = join(mkdtempSync(join(tmpdir(), 'gnas-safety-')), 'script.mjs');
  writeFileSync(file, `import { Supernet } from ${JSON.stringify(engineUrl)};\n${script}`);
  const r = shellPrefix
    ? spawnSync('bash', ['-c', `${shellPrefix} && exec "${process.execPath}" "${file}"`], { encoding: 'utf8', timeout: 300_000 })
    : spawnSync(process.execPath, ['--expose-gc', file], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { code?: string };
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return err.message;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** FNV-1a 64, the checksum that closes a checkpoint file. */
function fnv1a(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

for (const backend of ['cpu', 'reference'] as const) {
  describe(`divergence (${backend} backend)`, () => {
    test('a step that makes weights non-finite is refused by name; the supernet then refuses to score or save until a checkpoint is loaded', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gnas-div-'));
      const net = await Supernet.create(tiny, { backend, seed: 4, momentum: 0.9 });
      const { images, labels } = batch(16, 1);
      await net.trainStep([0, 1], images, labels, { lr: 0.05 });
      const good = join(dir, 'good.ckpt');
      await net.save(good);
      const [before] = await net.evaluate([[0, 1]], images, labels);

      let message = '';
      for (let step = 0; step < 60 && message === ''; step++) {
        try {
          await net.trainStep([0, 1], images, labels, { lr: 1e12 });
        } catch (e) {
          const err = e as Error & { code?: string };
          assert.equal(err.code, 'GNAS_NONFINITE', err.message);
          message = err.message;
        }
      }
      assert.match(message, /\d+ non-finite values? in \d+ tensors? \(first: '[a-z0-9_.]+'/, message);

      await rejectsWith(net.evaluate([[0, 1]], images, labels), 'GNAS_NONFINITE', /evaluate: the supernet's weights are not finite/);
      await rejectsWith(net.predict([0, 1], images), 'GNAS_NONFINITE');
      await rejectsWith(net.trainStep([0, 1], images, labels, { lr: 0.01 }), 'GNAS_NONFINITE');
      const bad = join(dir, 'bad.ckpt');
      await rejectsWith(net.save(bad), 'GNAS_NONFINITE', /save/);
      assert.equal(existsSync(bad), false, 'a checkpoint of non-finite weights was written');

      await net.load(good);
      const [after] = await net.evaluate([[0, 1]], images, labels);
      assert.equal(after!.loss, before!.loss, 'loading the good checkpoint restores its scores exactly');
      await net.dispose();
    });

    test('a checkpoint holding a non-finite value is refused with the count and the tensor', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gnas-div-'));
      const net = await Supernet.create(tiny, { backend, seed: 5 });
      const file = join(dir, 'x.ckpt');
      await net.save(file);
      const bytes = new Uint8Array(readFileSync(file));
      const total = net.tensorInfo().reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      // values then momentum close the body, then the 8-byte checksum: poison the first value
      const view = new DataView(bytes.buffer);
      view.setFloat32(bytes.length - 8 - 2 * total * 4, Number.NaN, true);
      view.setBigUint64(bytes.length - 8, fnv1a(bytes.subarray(0, bytes.length - 8)), true);
      writeFileSync(file, bytes);
      await rejectsWith(net.load(file), 'GNAS_NATIVE', /holds 1 non-finite value in 1 tensor \(first: '[a-z0-9_.]+'\).*diverged/);
      await net.dispose();
    });
  });
}

describe('engine inputs and memory', () => {
  test('inputs are copied when the call is made: changing the buffers right after does not change what is trained or scored', async () => {
    const a = await Supernet.create(tiny, { backend: 'cpu', seed: 9 });
    const b = await Supernet.create(tiny, { backend: 'cpu', seed: 9 });
    const one = batch(12, 2);
    const two = batch(12, 3);
    // a: each call's buffers are overwritten at once (the first call starts idle, the second
    // waits behind it); b: the same calls on untouched copies.
    const im1 = one.images.slice(), lb1 = one.labels.slice(), im2 = two.images.slice(), lb2 = two.labels.slice();
    const p1 = a.trainStep([0, 1], im1, lb1, { lr: 0.1 });
    im1.fill(0);
    lb1.fill(0);
    const p2 = a.trainStep([1, 0], im2, lb2, { lr: 0.1 });
    im2.fill(255);
    lb2.fill(4);
    const ev = one.images.slice();
    const p3 = a.evaluate([[0, 1]], ev, one.labels);
    ev.fill(7);
    const [ra1, ra2, [sa]] = await Promise.all([p1, p2, p3]);
    const rb1 = await b.trainStep([0, 1], one.images, one.labels, { lr: 0.1 });
    const rb2 = await b.trainStep([1, 0], two.images, two.labels, { lr: 0.1 });
    const [sb] = await b.evaluate([[0, 1]], one.images, one.labels);
    assert.deepEqual([ra1, ra2, sa], [rb1, rb2, sb]);
    for (const t of a.tensorInfo()) assert.deepEqual(a.getTensor(t.name), b.getTensor(t.name), t.name);
    await a.dispose();
    await b.dispose();
  });

  test('after an out-of-memory error (under a virtual-memory limit) the same supernet trains and scores a normal batch', () => {
    const r = child<{ code: string; message: string; loss: number; evaluated: number }>(
      `const space = { name: 'big', input: { height: 32, width: 32, channels: 3 }, classes: 10, activation: 'relu6',
         stem: { width: 16, stride: 1 }, fixedBlocks: [], stages: [{ width: 64, layers: 2, stride: 1 }], ops: ['k3e6', 'k5e3'], head: { width: 64 } };
       const net = await Supernet.create(space, { backend: 'cpu', seed: 1, threads: 2 });
       const mk = (n) => ({ images: new Uint8Array(n * 3072).map((_, i) => i % 251), labels: Int32Array.from({ length: n }, (_, i) => i % 10) });
       const small = mk(32), big = mk(6000);
       await net.trainStep([0, 1], small.images, small.labels, { lr: 0.01 });
       let code = 'none', message = '';
       try { await net.trainStep([0, 1], big.images, big.labels, { lr: 0.01 }); } catch (e) { code = e.code; message = e.message; }
       const r = await net.trainStep([0, 1], small.images, small.labels, { lr: 0.01 });
       const [s] = await net.evaluate([[1, 0]], small.images, small.labels);
       console.log(JSON.stringify({ code, message, loss: r.loss, evaluated: s.count }));`,
      'ulimit -v 6000000',
    );
    assert.equal(r.code, 'GNAS_OUT_OF_MEMORY', r.message);
    assert.match(r.message, /smaller batch/);
    assert.ok(Number.isFinite(r.loss));
    assert.equal(r.evaluated, 32);
  });

  test('memory grown for one oversized call is given back once the calls are small again', () => {
    const r = child<{ small: number; big: number; after: number }>(
      `const space = { name: 'mid', input: { height: 32, width: 32, channels: 3 }, classes: 10, activation: 'relu6',
         stem: { width: 16, stride: 1 }, fixedBlocks: [], stages: [{ width: 32, layers: 2, stride: 1 }], ops: ['k3e6', 'k5e3'], head: { width: 32 } };
       const net = await Supernet.create(space, { backend: 'cpu', seed: 1, threads: 1 });
       const mk = (n) => ({ images: new Uint8Array(n * 3072).map((_, i) => i % 251), labels: Int32Array.from({ length: n }, (_, i) => i % 10) });
       const rss = () => process.memoryUsage().rss / 1e6;
       const small = mk(32), big = mk(600);
       for (let i = 0; i < 3; i++) await net.trainStep([0, 1], small.images, small.labels, { lr: 0.01 });
       const before = rss();
       await net.trainStep([0, 1], big.images, big.labels, { lr: 0.01 });
       const peak = rss();
       for (let i = 0; i < 20; i++) await net.trainStep([0, 1], small.images, small.labels, { lr: 0.01 });
       console.log(JSON.stringify({ small: before, big: peak, after: rss() }));`,
    );
    const grown = r.big - r.small;
    assert.ok(grown > 300, `the oversized call should need memory: ${JSON.stringify(r)}`);
    assert.ok(r.after - r.small < 0.25 * grown, `RSS ${r.small.toFixed(0)} -> ${r.big.toFixed(0)} MB for the big call, still ${r.after.toFixed(0)} MB after 20 small calls`);
  });

  test('supernets dropped without dispose() are collected: V8 is told their native memory', () => {
    // Per supernet about 40 MB of native memory that V8 would not otherwise see: without the report,
    // 40 dropped supernets stay resident until something else triggers a collection.
    const r = child<{ one: number; base: number; peak: number }>(
      `const big = { name: 'big', input: { height: 32, width: 32, channels: 2 }, classes: 5, activation: 'relu6', stem: { width: 8, stride: 1 },
         fixedBlocks: [], stages: [{ width: 64, layers: 4, stride: 1 }], ops: ['k3e3', 'k5e6_se', 'k7e3', 'id'], head: { width: 16 } };
       const n = 16, images = new Uint8Array(n * 2048).map((_, i) => (i * 7) % 256), labels = Int32Array.from({ length: n }, (_, i) => i % 5);
       const rss = () => process.memoryUsage().rss / 1e6;
       const use = async () => { const net = await Supernet.create(big, { backend: 'cpu', seed: 2, threads: 1 }); await net.evaluate([[0, 1, 2, 3]], images, labels); return net; };
       await (await use()).dispose();
       globalThis.gc();
       const base = rss();
       const kept = [];
       for (let i = 0; i < 4; i++) kept.push(await use());
       const one = (rss() - base) / 4;
       for (const k of kept) await k.dispose();
       let peak = 0;
       for (let i = 0; i < 40; i++) { await use(); peak = Math.max(peak, rss()); }
       console.log(JSON.stringify({ one, base, peak }));`,
    );
    assert.ok(r.one > 10, `one supernet should hold memory: ${JSON.stringify(r)}`);
    assert.ok(r.peak - r.base < 0.5 * 40 * r.one, `40 dropped supernets of ~${r.one.toFixed(0)} MB each grew RSS by ${(r.peak - r.base).toFixed(0)} MB`);
  });

  test('a CPU scoring call or training batch larger than the available memory is refused before it runs, with the per-image cost and the option that lowers it', async () => {
    const net = await Supernet.create(tiny, { threads: 1, seed: 1 });
    try {
      const { images, labels } = batch(8, 3);
      const before = net.memoryBytes;
      await net.evaluate([[0, 1]], batch(64, 4).images, batch(64, 4).labels);
      assert.ok(net.memoryBytes > before, `memoryBytes should grow with a 64-image scoring call: ${before} -> ${net.memoryBytes}`);
      const ds = { images, labels, height: 8, width: 8, channels: 2, classes: 5 };
      await checkScoringMemory(net, ds, 'batch'); // 8 images fit
      // the check reads the number of images only: a set of 2^40 of them needs no real array
      const huge = { ...ds, labels: { length: 2 ** 40 } as unknown as Int32Array };
      await assert.rejects(checkScoringMemory(net, huge, 'batch'), (e: Error) => {
        assert.equal(e.name, 'ConfigError');
        assert.match(e.message, /^scoring 1099511627776 images at once needs about [\d.]+ GB for this network on the CPU \([\d.]+ MB per image, measured on this engine\), but only [\d.]+ GB is available: score fewer images at once \(about \d+ fit now\): --val-images .* --search-images/);
        const perImage = Number(/\(([\d.]+) MB per image/.exec(e.message)![1]);
        assert.ok(perImage > 0, e.message);
        return true;
      });
      // the same for a training batch, whose step holds more per image than scoring does
      const stepBytes = await checkTrainingMemory(net, ds, 8, '--batch');
      assert.ok(stepBytes > 0, `a step of 8 images should hold activation memory: ${stepBytes}`);
      await assert.rejects(checkTrainingMemory(net, ds, 2 ** 40, '--batch'), (e: Error) => {
        assert.equal(e.name, 'ConfigError');
        assert.match(e.message, /^training at batch 1099511627776 needs about [\d.]+ GB for this network on the CPU \([\d.]+ MB per image, measured on this engine\), but only [\d.]+ GB is available: lower --batch \(about \d+ images per batch fit now\)$/);
        return true;
      });
      // the network still scores normally afterwards
      const [r] = await net.evaluate([[0, 1]], images, labels);
      assert.ok(Number.isFinite(r!.loss));
    } finally {
      await net.dispose();
    }
  });
});
