// The native supernet through its public TypeScript API: training semantics, batched
// evaluation, BN modes, checkpoints, async behaviour, and clear errors for bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, test } from 'node:test';

import { Supernet } from '../src/native/engine.js';
import type { SpaceFile } from '../src/space/types.js';
import { tinySpace } from './helpers/spaces.js';
import { Rng } from '../src/util/rng.js';

/** A tiny space that still holds every op kind: MBConv k3/k5/k7, e1/e3/e6, SE, skip identity,
 *  identity at a reduction layer (strided 1x1 conv), hswish. */
const tiny: SpaceFile = tinySpace({
  activation: 'hswish',
  fixedBlocks: [{ kernel: 3, expansion: 1, width: 8, stride: 1 }],
  stages: [
    { width: 8, layers: 2, stride: 1 },
    { width: 12, layers: 2, stride: 2 },
  ],
  ops: ['k3e3', 'k5e6_se', 'k7e3', 'id'],
});

function batch(n: number, seed: number, space = tiny): { images: Uint8Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const px = space.input.height * space.input.width * space.input.channels;
  const images = Uint8Array.from({ length: n * px }, () => rng.int(256));
  const labels = Int32Array.from({ length: n }, () => rng.int(space.classes));
  return { images, labels };
}

const pathA = [0, 1, 2, 3];
const pathB = [0, 1, 3, 2]; // shares a two-layer prefix with A
const pathC = [3, 2, 1, 0];

const backends = ['reference', 'cpu'] as const;

for (const backend of backends) {
  describe(`engine (${backend} backend)`, () => {
    test('evaluate equals each path scored alone, with and without shared prefixes', async () => {
      // FP32 scoring: the loss is compared with the cross-entropy of predict's FP32 logits
      const net = await Supernet.create(tiny, { backend, seed: 3, scoreMath: 'fp32' });
      const { images, labels } = batch(12, 1);
      const together = await net.evaluate([pathA, pathB, pathC, pathA], images, labels, { bn: 'batch' });
      for (const [i, arch] of [pathA, pathB, pathC, pathA].entries()) {
        const [alone] = await net.evaluate([arch], images, labels, { bn: 'batch' });
        assert.ok(alone);
        assert.ok(Math.abs(together[i]!.loss - alone.loss) < 1e-6, `path ${i}: ${together[i]!.loss} vs ${alone.loss}`);
        assert.equal(together[i]!.correct, alone.correct);
        assert.equal(together[i]!.count, 12);
        // ... and the loss equals the cross-entropy of predict()'s logits in the same BN mode
        const logits = await net.predict(arch, images, { bn: 'batch' });
        let ce = 0;
        for (let n = 0; n < 12; n++) {
          const row = logits.subarray(n * 5, n * 5 + 5);
          const mx = Math.max(...row);
          const lse = Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) + mx;
          ce += lse - row[labels[n]!]!;
        }
        assert.ok(Math.abs(ce / 12 - alone.loss) < 1e-4, `predict vs evaluate: ${ce / 12} vs ${alone.loss}`);
      }
    });

    test("evaluate in 'batch' mode leaves running statistics untouched; 'running' uses them", async () => {
      const net = await Supernet.create(tiny, { backend, seed: 3 });
      const { images, labels } = batch(10, 2);
      const before = net.getTensor('layers.0.0.dw.bn.running_mean');
      await net.evaluate([pathA], images, labels, { bn: 'batch' });
      assert.deepEqual(net.getTensor('layers.0.0.dw.bn.running_mean'), before);
      const [batchMode] = await net.evaluate([pathA], images, labels, { bn: 'batch' });
      const [running] = await net.evaluate([pathA], images, labels, { bn: 'running' });
      assert.notEqual(batchMode!.loss, running!.loss);
    });

    test('training a path changes only that path; every other op is bit-identical', async () => {
      const net = await Supernet.create(tiny, { backend, seed: 5 });
      const snapshot = new Map(net.tensorInfo().map((t) => [t.name, net.getTensor(t.name)]));
      const { images, labels } = batch(8, 3);
      await net.trainStep(pathA, images, labels, { lr: 0.1 });
      await net.trainStep(pathA, images, labels, { lr: 0.1 });
      let changed = 0;
      for (const t of net.tensorInfo()) {
        const m = /^layers\.(\d+)\.(\d+)\./.exec(t.name);
        const onPath = !m || pathA[Number(m[1])] === Number(m[2]);
        const same = Buffer.compare(Buffer.from(net.getTensor(t.name).buffer), Buffer.from(snapshot.get(t.name)!.buffer)) === 0;
        if (!onPath) assert.ok(same, `${t.name} is off the path but changed`);
        else if (!same) changed++;
      }
      assert.ok(changed > 20, `only ${changed} on-path tensors changed`);
    });

    test('accumulated gradients add up before one update (strict-fair training)', async () => {
      const opts = { backend, seed: 7, momentum: 0, weightDecay: 0, nesterov: false } as const;
      const a = await Supernet.create(tiny, opts);
      const b = await Supernet.create(tiny, opts);
      const { images, labels } = batch(8, 4);
      await a.accumulateGradients(pathA, images, labels);
      await a.accumulateGradients(pathA, images, labels);
      await a.applyUpdate(0.05);
      await b.trainStep(pathA, images, labels, { lr: 0.1 });
      for (const name of ['stem.conv.weight', 'layers.1.1.se.fc1.weight', 'fc.weight']) {
        const x = a.getTensor(name);
        const y = b.getTensor(name);
        for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-5, `${name}[${i}]`);
      }
    });
  });
}

describe('engine (cpu backend, learning)', () => {
  test('a fixed path memorises 64 images', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu', seed: 11, labelSmoothing: 0, weightDecay: 0 });
    const { images, labels } = batch(64, 9);
    let last = { loss: Infinity, correct: 0 };
    for (let step = 0; step < 150; step++) last = await net.trainStep(pathA, images, labels, { lr: 0.1 });
    assert.ok(last.loss < 0.05, `loss after 150 steps: ${last.loss}`);
    assert.equal(last.correct, 64);
  });

  test('calibrateBn re-estimates the running statistics of the path', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu', seed: 2 });
    const { images, labels } = batch(32, 5);
    const before = net.getTensor('stem.bn.running_var');
    await net.calibrateBn(pathA, [images.subarray(0, 16 * 128), images.subarray(16 * 128)]);
    const after = net.getTensor('stem.bn.running_var');
    assert.notDeepEqual(after, before);
    // after calibration on the scoring batch itself, eval-mode and batch-mode scores are close
    await net.calibrateBn(pathA, [images]);
    const [r] = await net.evaluate([pathA], images, labels, { bn: 'running' });
    const [b] = await net.evaluate([pathA], images, labels, { bn: 'batch' });
    assert.ok(Math.abs(r!.loss - b!.loss) < 0.05 * Math.max(1, b!.loss), `${r!.loss} vs ${b!.loss}`);
  });

  test('save and load restore weights and momentum exactly; bad files are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gnas-ckpt-'));
    const file = join(dir, 'net.ckpt');
    const a = await Supernet.create(tiny, { backend: 'cpu', seed: 1 });
    const { images, labels } = batch(8, 6);
    await a.trainStep(pathA, images, labels, { lr: 0.1 });
    await a.save(file, '{"note":"hello"}');
    const b = await Supernet.create(tiny, { backend: 'cpu', seed: 99 });
    assert.equal(await b.load(file), '{"note":"hello"}');
    // identical next step proves momentum buffers were restored too
    const ra = await a.trainStep(pathA, images, labels, { lr: 0.1 });
    const rb = await b.trainStep(pathA, images, labels, { lr: 0.1 });
    assert.equal(ra.loss, rb.loss);
    assert.deepEqual(a.getTensor('layers.0.0.expand.conv.weight'), b.getTensor('layers.0.0.expand.conv.weight'));

    const before = b.getTensor('fc.weight');
    truncateSync(file, statSync(file).size - 10);
    await assert.rejects(b.load(file), /truncated|corrupt/);
    assert.deepEqual(b.getTensor('fc.weight'), before, 'a refused file leaves the supernet unchanged');
    writeFileSync(file, 'not a checkpoint at all');
    await assert.rejects(b.load(file), /not a greedynas checkpoint/);
    await a.save(file);
    const raw = readFileSync(file);
    raw[raw.length - 100] = raw[raw.length - 100]! ^ 0xff;
    writeFileSync(file, raw);
    await assert.rejects(b.load(file), /checksum/);
    const other = await Supernet.create({ ...tiny, head: { width: 24 } }, { backend: 'cpu' });
    await a.save(file);
    await assert.rejects(other.load(file), /different space/);
    await assert.rejects(a.save(join(dir, 'missing-dir', 'x.ckpt')), /cannot write checkpoint/);
  });

  test('the event loop keeps ticking during a long native call', async () => {
    const net = await Supernet.create(tiny, { backend: 'reference', seed: 1 });
    const { images, labels } = batch(256, 7);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    await net.trainStep(pathA, images, labels, { lr: 0.01 });
    const elapsed = Date.now() - started;
    clearInterval(timer);
    assert.ok(elapsed > 50, `the call was too short (${elapsed} ms) to show anything`);
    assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `only ${ticks} ticks in ${elapsed} ms`);
  });

  test('garbage collection during an in-flight call is safe', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) {
      // neither the supernet nor the buffers are referenced after the call starts
      pending.push(
        (async () => {
          const net = await Supernet.create(tiny, { backend: 'cpu', seed: i });
          const { images, labels } = batch(32, i);
          return net.trainStep(pathA, images, labels, { lr: 0.01 });
        })(),
      );
    }
    for (let i = 0; i < 20; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 1));
    }
    const results = (await Promise.all(pending)) as Array<{ loss: number }>;
    for (const r of results) assert.ok(Number.isFinite(r.loss));
  });

  test('calls issued without awaiting run one at a time, in call order', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu', seed: 1 });
    const seq = await Supernet.create(tiny, { backend: 'cpu', seed: 1 });
    const { images, labels } = batch(16, 8);
    const all = await Promise.all([0, 1, 2, 3].map(() => net.trainStep(pathA, images, labels, { lr: 0.05 })));
    for (const r of all) {
      const expected = await seq.trainStep(pathA, images, labels, { lr: 0.05 });
      assert.equal(r.loss, expected.loss);
    }
    assert.throws(() => {
      const p = net.trainStep(pathA, images, labels, { lr: 0.05 });
      try {
        net.getTensor('fc.bias');
      } finally {
        void p;
      }
    }, /busy/);
    while (net.busy > 0) await new Promise((r) => setTimeout(r, 5));
  });
});

describe('engine: bad input gets a clear error, never a crash', () => {
  test('arch, images, labels, learning rate, options and spaces', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu' });
    const { images, labels } = batch(4, 1);
    await assert.rejects(net.trainStep([0, 1, 2], images, labels, { lr: 0.1 }), /arch: expected 4 choices/);
    await assert.rejects(net.trainStep([0, 1, 2, 4], images, labels, { lr: 0.1 }), /arch\[3\]: expected an integer choice in \[0, 3\], got 4/);
    await assert.rejects(net.trainStep([0, 1, 2, -1], images, labels, { lr: 0.1 }), /arch\[3\]/);
    await assert.rejects(net.trainStep([0, 1, 2, 1.5], images, labels, { lr: 0.1 }), /arch\[3\]/);
    await assert.rejects(net.trainStep(pathA, images.subarray(1), labels, { lr: 0.1 }), /not a whole number of 8x8x2 images/);
    await assert.rejects(net.trainStep(pathA, new Float64Array(4 * 128) as unknown as Float32Array, labels, { lr: 0.1 }), /Uint8Array .* or Float32Array/);
    await assert.rejects(net.trainStep(pathA, images, Int32Array.of(0, 1, 2, 5), { lr: 0.1 }), /labels\[3\]: expected a class index in \[0, 4\], got 5/);
    await assert.rejects(net.trainStep(pathA, images, Int32Array.of(0, 1, 2), { lr: 0.1 }), /holds 4 images but labels has 3/);
    await assert.rejects(net.trainStep(pathA, images, labels, { lr: Number.NaN }), /lr: expected a finite number/);
    await assert.rejects(net.evaluate([], images, labels), /archs: expected a non-empty array/);
    await assert.rejects(net.evaluate([pathA], images, labels, { bn: 'train' as 'batch' }), /bn: expected 'batch' or 'running'/);
    await assert.rejects(net.predict(pathA, new Float32Array(3)), /not a whole number/);
    await assert.rejects(net.calibrateBn(pathA, []), /batches: expected a non-empty array/);
    assert.throws(() => net.getTensor('no.such.tensor'), /no tensor named 'no.such.tensor'/);
    assert.throws(() => net.setTensor('fc.bias', new Float32Array(3)), /has 5 elements, got 3/);
    await assert.rejects(Supernet.create(tiny, { backend: 'gpu' as 'cpu' }), /options.backend/);
    await assert.rejects(Supernet.create(tiny, { threads: -1 }), /options.threads/);
    await assert.rejects(Supernet.create({ ...tiny, stages: [{ width: 8, layers: 0, stride: 1 }] }), /space.stages\[0\].layers/);
    await assert.rejects(Supernet.create({ ...tiny, stages: [] }), /space.stages/);
    await assert.rejects(Supernet.create({ ...tiny, ops: ['k4e3'] }), /space.ops\[0\]/);
  });

  test('the binding itself rejects malformed calls that bypass the TypeScript checks', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu' });
    const raw = (net as unknown as { native: Record<string, (...a: unknown[]) => unknown> }).native;
    const { images, labels } = batch(4, 1);
    assert.throws(() => raw.trainStep!.call(raw, [0, 1, 2, 9], images, labels, 0.1), /out of range/);
    assert.throws(() => raw.trainStep!.call(raw, pathA, images, Int32Array.of(0, 0, 0, 99), 0.1), /out of range/);
    assert.throws(() => raw.trainStep!.call(raw, pathA, 'images', labels, 0.1), /Uint8Array or Float32Array/);
    assert.throws(() => raw.trainStep!.call(raw, pathA, images, labels, Number.NaN), /lr must be a finite number/);
    assert.throws(() => raw.evaluate!.call(raw, [[0, 0]], images, labels, 'batch'), /archs\[0\]/);
    assert.throws(() => raw.predict!.call(raw, pathA, new Uint8Array(5), 'batch'), /not a whole number/);
    const busy = raw.trainStep!.call(raw, pathA, images, labels, 0.1) as Promise<unknown>;
    assert.throws(() => raw.getTensor!.call(raw, 'fc.bias'), /busy/);
    await busy;
  });
});

describe('engine: dispose()', () => {
  test('frees the native supernet after queued calls settle; later calls are GNAS_DISPOSED errors, never a crash', async () => {
    const net = await Supernet.create(tiny, { backend: 'cpu', seed: 1 });
    const { images, labels } = batch(8, 2);
    const queued = net.trainStep(pathA, images, labels, { lr: 0.1 }); // in flight when dispose() is called
    const disposing = net.dispose();
    assert.equal(net.disposed, true);
    await assert.rejects(net.evaluate([pathA], images, labels), (e: Error & { code?: string }) => e.code === 'GNAS_DISPOSED' && /disposed/.test(e.message));
    const r = await queued; // the call made before dispose() still runs
    assert.ok(Number.isFinite(r.loss));
    await disposing;
    await net.dispose(); // a second call is a no-op
    assert.throws(() => net.getTensor('fc.bias'), (e: Error & { code?: string }) => e.code === 'GNAS_DISPOSED');
    assert.throws(() => net.tensorInfo(), /disposed/);
    const raw = (net as unknown as { native: Record<string, (...a: unknown[]) => unknown> }).native;
    assert.throws(() => raw.trainStep!.call(raw, pathA, images, labels, 0.1), /disposed/); // the binding checks too
  });

  test('creating and disposing many networks does not grow the resident memory', () => {
    // In a child process: the test runner's own bookkeeping grows the heap of this one by a few MB
    // per awaited call, which would hide (or fake) what the native side does. The allocator keeps
    // freed pages for reuse, so RSS climbs over the first cycles and then stays flat (measured:
    // ~300 MB after 15 cycles, flat to 90; without dispose() it passes 18 GB by cycle 90).
    const big: SpaceFile = { ...tiny, input: { height: 32, width: 32, channels: 2 }, stages: [{ width: 64, layers: 4, stride: 1 }] };
    const engine = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'native', 'engine.js')).href;
    const script = `
      import { Supernet } from ${JSON.stringify(engine)};
      const big = ${JSON.stringify(big)};
      const n = 64, px = 32 * 32 * 2;
      const images = new Uint8Array(n * px).map((_, i) => (i * 7) % 256);
      const labels = Int32Array.from({ length: n }, (_, i) => i % 5);
      const cycle = async () => {
        const net = await Supernet.create(big, { backend: 'cpu', seed: 2, threads: 1 });
        await net.evaluate([[0, 1, 2, 3]], images, labels);
        await net.dispose();
      };
      for (let i = 0; i < 15; i++) await cycle();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 30; i++) await cycle();
      console.log(JSON.stringify({ grownMB: (process.memoryUsage().rss - before) / 1e6 }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    const { grownMB } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { grownMB: number };
    assert.ok(grownMB < 50, `RSS grew by ${grownMB.toFixed(1)} MB over 30 create/dispose cycles`);
  });
});
