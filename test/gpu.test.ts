// The CUDA backend through the public TypeScript API, against the CPU backend: a 20-step training
// trajectory, batched evaluation, checkpoints across devices, data parallelism (replicas stay
// bit-identical) and device errors. Runs where probeBackends() finds a CUDA device; elsewhere every
// GPU test is skipped with the reason, and only the "no device" error path is checked.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { probeBackends, Supernet } from '../src/native/engine.js';
import type { SpaceFile } from '../src/space/types.js';

const tiny: SpaceFile = {
  name: 'gpu-tiny',
  input: { height: 16, width: 16, channels: 3 },
  classes: 10,
  activation: 'relu6',
  stem: { width: 16, stride: 2 },
  fixedBlocks: [{ kernel: 3, expansion: 1, width: 16, stride: 1 }],
  stages: [
    { width: 24, layers: 2, stride: 2 },
    { width: 32, layers: 2, stride: 1 },
  ],
  ops: ['k3e3', 'k5e6', 'k7e3_se', 'id'],
  head: { width: 64 },
};

function batch(n: number, seed: number): { images: Uint8Array; labels: Int32Array } {
  let s = seed * 2654435761 + 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0), s / 4294967296);
  const px = tiny.input.height * tiny.input.width * tiny.input.channels;
  return {
    images: new Uint8Array(n * px).map(() => Math.floor(rnd() * 256)),
    labels: Int32Array.from({ length: n }, () => Math.floor(rnd() * tiny.classes)),
  };
}

function pathOf(step: number): number[] {
  return [step % 4, (step + 1) % 3, (step * 7 + 2) % 4, (step + 3) % 4];
}

const cuda = probeBackends().find((b) => b.name === 'cuda');
const devices = cuda?.usable ? cuda.devices : 0;
const noGpu = devices === 0 ? `no usable CUDA device here (${cuda?.built ? cuda.detail : 'cuda backend not built'})` : false;
const noTwo = devices < 2 ? `data parallelism needs 2 CUDA devices, this machine has ${devices}` : false;

describe('cuda backend', () => {
  test('without a device, asking for cuda fails with a clear error', { skip: devices > 0 ? 'a CUDA device is present' : false }, async () => {
    await assert.rejects(Supernet.create(tiny, { backend: 'cuda' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'GNAS_DEVICE');
      assert.match(e.message, /cuda backend (is not in this build|needs 1 device\(s\), this machine has 0)/);
      return true;
    });
  });

  // Training is chaotic (activations within rounding of a ReLU6 kink flip their derivative), so
  // two backends are compared in lockstep: before every step the GPU gets the CPU's exact values
  // (momentum 0, so values are the whole state), then one step's loss and update are compared.
  test('20 training steps on the GPU match the CPU step by step (fp32, lockstep)', { skip: noGpu }, async () => {
    const opts = { seed: 5, momentum: 0 };
    const gpu = await Supernet.create(tiny, { ...opts, backend: 'cuda' });
    const cpu = await Supernet.create(tiny, { ...opts, backend: 'cpu' });
    assert.match(gpu.backend, /^cuda/);
    const names = cpu.tensorInfo().map((t) => t.name);
    let worstUpdate = 0;
    for (let step = 0; step < 20; step++) {
      const before = new Map(names.map((n) => [n, cpu.getTensor(n)]));
      for (const [n, v] of before) gpu.setTensor(n, v);
      const { images, labels } = batch(16, step);
      const g = await gpu.trainStep(pathOf(step), images, labels, { lr: 0.05 });
      const c = await cpu.trainStep(pathOf(step), images, labels, { lr: 0.05 });
      assert.ok(Math.abs(g.loss - c.loss) <= 1e-4 * Math.max(1, Math.abs(c.loss)), `step ${step}: loss ${g.loss} vs ${c.loss}`);
      let num = 0;
      let den = 0;
      for (const [n, v0] of before) {
        const vg = gpu.getTensor(n);
        const vc = cpu.getTensor(n);
        for (let i = 0; i < v0.length; i++) {
          const dg = vg[i]! - v0[i]!;
          const dc = vc[i]! - v0[i]!;
          num += (dg - dc) ** 2;
          den += dc ** 2;
        }
      }
      const rel = Math.sqrt(num / Math.max(den, 1e-30));
      worstUpdate = Math.max(worstUpdate, rel);
      assert.ok(rel <= 1e-2, `step ${step}: the GPU's update differs from the CPU's by ${rel.toExponential(2)} (2-norm, relative)`);
    }
    const { images, labels } = batch(32, 99);
    for (const n of names) gpu.setTensor(n, cpu.getTensor(n));
    const archs = [pathOf(1), pathOf(2), pathOf(3), pathOf(1)];
    const sg = await gpu.evaluate(archs, images, labels, { bn: 'batch' });
    const sc = await cpu.evaluate(archs, images, labels, { bn: 'batch' });
    for (let i = 0; i < archs.length; i++) assert.ok(Math.abs(sg[i]!.loss - sc[i]!.loss) <= 1e-4 * Math.max(1, sc[i]!.loss), `path ${i}: ${sg[i]!.loss} vs ${sc[i]!.loss}`);
    assert.ok(worstUpdate < 1e-2);
  });

  test('GPU training is deterministic: two runs give bit-identical weights', { skip: noGpu }, async () => {
    const nets = [await Supernet.create(tiny, { backend: 'cuda', seed: 2 }), await Supernet.create(tiny, { backend: 'cuda', seed: 2 })];
    for (let step = 0; step < 10; step++) {
      const { images, labels } = batch(16, step);
      for (const n of nets) await n.trainStep(pathOf(step), images, labels, { lr: 0.1 });
    }
    for (const t of nets[0]!.tensorInfo()) assert.deepEqual(nets[0]!.getTensor(t.name), nets[1]!.getTensor(t.name), t.name);
  });

  test('a checkpoint written on the GPU loads on the CPU and back', { skip: noGpu }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gnas-gpu-'));
    const gpu = await Supernet.create(tiny, { backend: 'cuda', seed: 1 });
    const { images, labels } = batch(8, 3);
    await gpu.trainStep(pathOf(0), images, labels, { lr: 0.1 });
    await gpu.save(join(dir, 'a.ckpt'));
    const cpu = await Supernet.create(tiny, { backend: 'cpu', seed: 9 });
    await cpu.load(join(dir, 'a.ckpt'));
    for (const t of cpu.tensorInfo()) assert.deepEqual(cpu.getTensor(t.name), gpu.getTensor(t.name), t.name);
  });

  test('tf32 and bf16 train and score close to fp32', { skip: noGpu }, async () => {
    const { images, labels } = batch(16, 4);
    const losses: number[] = [];
    for (const math of ['fp32', 'tf32', 'bf16'] as const) {
      const net = await Supernet.create(tiny, { backend: 'cuda', seed: 4, math });
      losses.push((await net.trainStep(pathOf(0), images, labels, { lr: 0.1 })).loss);
    }
    assert.ok(Math.abs(losses[1]! - losses[0]!) < 2e-2 * losses[0]!, `tf32 ${losses[1]} vs fp32 ${losses[0]}`);
    assert.ok(Math.abs(losses[2]! - losses[0]!) < 5e-2 * losses[0]!, `bf16 ${losses[2]} vs fp32 ${losses[0]}`);
  });

  test('a device ordinal out of range is a clear error', { skip: noGpu }, async () => {
    await assert.rejects(Supernet.create(tiny, { backend: 'cuda', device: devices }), /device/);
  });
});

describe('data parallelism (gpus > 1)', () => {
  test('2 replicas stay bit-identical and follow one GPU with the whole batch', { skip: noTwo }, async () => {
    const dp = await Supernet.create(tiny, { backend: 'cuda', seed: 6, gpus: 2 });
    const one = await Supernet.create(tiny, { backend: 'cuda', seed: 6 });
    assert.equal(dp.replicas, 2);
    for (let step = 0; step < 10; step++) {
      const { images, labels } = batch(32, step);
      const a = await dp.trainStep(pathOf(step), images, labels, { lr: 0.05 });
      const b = await one.trainStep(pathOf(step), images, labels, { lr: 0.05 });
      assert.ok(Number.isFinite(a.loss));
      // Same weights at step 0; BN statistics per replica (16 images each) differ from 32-image
      // statistics, so the losses are close, not equal. Later steps diverge chaotically.
      if (step === 0) assert.ok(Math.abs(a.loss - b.loss) < 0.05 * Math.max(1, b.loss), `step 0: ${a.loss} vs ${b.loss}`);
    }
    assert.equal(dp.replicaDivergence(), 0);
    const { images, labels } = batch(24, 50);
    const archs = [pathOf(0), pathOf(1), pathOf(2), pathOf(3), pathOf(5)];
    const spread = await dp.evaluate(archs, images, labels, { bn: 'batch' });
    for (const [i, arch] of archs.entries()) {
      const [alone] = await dp.evaluate([arch], images, labels, { bn: 'batch' });
      assert.equal(spread[i]!.loss, alone!.loss, `path ${i} scored on another replica`);
    }
    await assert.rejects(dp.trainStep(pathOf(0), batch(7, 1).images, batch(7, 1).labels, { lr: 0.1 }), /split evenly/);
  });
});
