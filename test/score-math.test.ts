// Fast forward passes: bfloat16 scoring (options.scoreMath) and the eval-mode forward (predict
// with running BN statistics, the consumer applying each BN on the fly), against FP32 and the
// reference backend; and that predict never uses stale weights after a training step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { Supernet } from '../src/native/engine.js';
import { describeScoreMath } from '../src/pipeline/train-supernet.js';
import type { SpaceFile } from '../src/space/types.js';
import { smallSpace } from './helpers/spaces.js';

/** Every op kind (MBConv k3/k5/k7, e3/e6, SE, skip, strided identity), channel counts off the vector width. */
const tiny: SpaceFile = smallSpace({
  name: 'tiny-fwd',
  input: { height: 12, width: 12, channels: 1 },
  stem: { width: 16, stride: 1 },
  stages: [
    { width: 24, layers: 2, stride: 2 },
    { width: 40, layers: 2, stride: 1 },
  ],
  ops: ['k3e6', 'k5e3_se', 'k7e6', 'id'],
});
const paths = [
  [0, 1, 2, 0],
  [0, 1, 3, 2],
  [2, 2, 0, 1],
  [1, 0, 2, 3],
];

function batch(n: number, seed: number): { images: Uint8Array; labels: Int32Array } {
  let s = seed * 2654435761 + 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0), s / 4294967296);
  const images = new Uint8Array(n * 144).map(() => Math.floor(rnd() * 256));
  const labels = Int32Array.from({ length: n }, () => Math.floor(rnd() * 10));
  return { images, labels };
}

/** Whether the cpu backend has hardware bfloat16 here (the check cpu_backend.cpp makes). */
function cpuHasBf16(): boolean {
  const isa = process.env.GNAS_CPU_ISA;
  if (isa === 'avx2' || isa === 'generic') return false;
  try {
    return /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

function copyWeights(from: Supernet, to: Supernet): void {
  for (const t of from.tensorInfo()) to.setTensor(t.name, from.getTensor(t.name));
}

function relMaxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

describe('scoreMath: bfloat16 scoring', () => {
  test('the option is checked, and scoreMath says what evaluate uses', async () => {
    const bf16 = cpuHasBf16() ? 'bf16' : 'fp32';
    assert.equal((await Supernet.create(tiny, {})).scoreMath, bf16, 'default auto');
    assert.equal((await Supernet.create(tiny, { scoreMath: 'bf16' })).scoreMath, bf16);
    assert.equal((await Supernet.create(tiny, { scoreMath: 'fp32' })).scoreMath, 'fp32');
    assert.equal((await Supernet.create(tiny, { backend: 'reference', scoreMath: 'bf16' })).scoreMath, 'fp32');
    await assert.rejects(Supernet.create(tiny, { scoreMath: 'fp16' as never }), /options\.scoreMath: expected 'fp32', 'bf16' or 'auto', got "fp16"/);
  });

  test('the training log names the arithmetic the rounds score in, and why FP32 when bf16 was asked for', async () => {
    const ref = await Supernet.create(tiny, { backend: 'reference', scoreMath: 'bf16' });
    assert.equal(describeScoreMath('bf16', ref.scoreMath), 'FP32 (--score-math bf16: no fast bfloat16 on this backend)');
    assert.equal(describeScoreMath('fp32', 'fp32'), 'FP32');
    assert.equal(describeScoreMath('auto', 'bf16'), 'bfloat16 products (AVX512-BF16)');
  });

  test('bfloat16 losses stay within bfloat16 error of FP32; training and predict are untouched', async () => {
    const fp32 = await Supernet.create(tiny, { seed: 11, scoreMath: 'fp32' });
    const bf16 = await Supernet.create(tiny, { seed: 11, scoreMath: 'bf16' });
    const { images, labels } = batch(48, 1);
    for (let s = 0; s < 3; s++) {
      // the same training on both: training is FP32 whatever scoreMath says
      await fp32.trainStep(paths[s]!, images, labels, { lr: 0.05 });
      await bf16.trainStep(paths[s]!, images, labels, { lr: 0.05 });
    }
    assert.deepEqual(bf16.getTensor('layers.0.0.expand.conv.weight'), fp32.getTensor('layers.0.0.expand.conv.weight'));
    for (const bn of ['batch', 'running'] as const) {
      const a = await fp32.evaluate(paths, images, labels, { bn });
      const b = await bf16.evaluate(paths, images, labels, { bn });
      let identical = true;
      for (let i = 0; i < paths.length; i++) {
        const d = Math.abs(a[i]!.loss - b[i]!.loss);
        assert.ok(d < 2e-2 * a[i]!.loss, `${bn} path ${i}: fp32 ${a[i]!.loss} vs bf16 ${b[i]!.loss}`);
        if (d !== 0) identical = false;
      }
      // with hardware bfloat16 the losses must differ somewhere (the bf16 kernels really ran)
      if (bf16.scoreMath === 'bf16') assert.ok(!identical, `${bn}: bf16 scoring gave FP32's exact losses`);
      else assert.ok(identical, `${bn}: scoring fell back to FP32 but the losses differ`);
    }
    const pa = await fp32.predict(paths[0]!, images, { bn: 'running' });
    const pb = await bf16.predict(paths[0]!, images, { bn: 'running' });
    assert.deepEqual(pb, pa, 'predict is FP32 whatever scoreMath says');
  });
});

describe('eval-mode forward (running BN statistics, fused)', () => {
  test('predict and evaluate in running mode match the reference backend after training', async () => {
    const cpu = await Supernet.create(tiny, { seed: 5, scoreMath: 'fp32' });
    const ref = await Supernet.create(tiny, { seed: 5, backend: 'reference' });
    const { images, labels } = batch(32, 2);
    for (let s = 0; s < 4; s++) await cpu.trainStep(paths[s]!, images, labels, { lr: 0.05 });
    copyWeights(cpu, ref); // running statistics included: no longer 0 / 1
    for (const p of paths) {
      const a = await cpu.predict(p, images, { bn: 'running' });
      const b = await ref.predict(p, images, { bn: 'running' });
      assert.ok(relMaxDiff(a, b) < 1e-4, `path ${p}: relative difference ${relMaxDiff(a, b)}`);
    }
    const ea = await cpu.evaluate(paths, images, labels, { bn: 'running' });
    const eb = await ref.evaluate(paths, images, labels, { bn: 'running' });
    for (let i = 0; i < paths.length; i++) assert.ok(Math.abs(ea[i]!.loss - eb[i]!.loss) < 1e-4 * eb[i]!.loss, `path ${i}`);
  });

  test('predict after a trainStep uses the new weights (nothing stale)', async () => {
    const net = await Supernet.create(tiny, { seed: 9 });
    const { images, labels } = batch(32, 3);
    await net.trainStep(paths[0]!, images, labels, { lr: 0.05 });
    const before = await net.predict(paths[0]!, images, { bn: 'running' });
    await net.trainStep(paths[0]!, images, labels, { lr: 0.05 });
    const after = await net.predict(paths[0]!, images, { bn: 'running' });
    assert.ok(relMaxDiff(after, before) > 1e-4, 'the training step did not change the eval-mode logits');
    // a fresh supernet that never ran a forward, given the trained tensors, predicts the same
    const fresh = await Supernet.create(tiny, { seed: 1 });
    copyWeights(net, fresh);
    assert.deepEqual(await fresh.predict(paths[0]!, images, { bn: 'running' }), after);
    // and after setTensor on the trained net itself
    const w = net.getTensor('layers.0.0.project.bn.weight');
    net.setTensor('layers.0.0.project.bn.weight', w.map((v) => v * 0.5));
    const edited = await net.predict(paths[0]!, images, { bn: 'running' });
    assert.ok(relMaxDiff(edited, after) > 1e-4, 'setTensor did not reach predict');
  });
});
