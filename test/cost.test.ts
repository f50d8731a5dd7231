// FLOPs and parameter counts: the MobileNetV2 and W1 reference numbers, hand counts of single
// ops, and every (layer, op) of the presets against a tensor list written from docs/parameters.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { archFlops, archParams, CostTable, costTable, formatCount } from '../src/space/cost.js';
import { loadSpace } from '../src/space/presets.js';
import { resolveSpace } from '../src/space/resolve.js';
import type { ResolvedLayer, ResolvedOp, ResolvedSpace, SpaceFile } from '../src/space/types.js';

const mobilenetV2: SpaceFile = {
  name: 'mobilenet-v2-1.0',
  input: { height: 224, width: 224, channels: 3 },
  classes: 1000,
  activation: 'relu6',
  stem: { width: 32, stride: 2, kernel: 3 },
  fixedBlocks: [{ kernel: 3, expansion: 1, width: 16, stride: 1 }],
  stages: [
    { width: 24, layers: 2, stride: 2 },
    { width: 32, layers: 3, stride: 2 },
    { width: 64, layers: 4, stride: 2 },
    { width: 96, layers: 3, stride: 1 },
    { width: 160, layers: 3, stride: 2 },
    { width: 320, layers: 1, stride: 1 },
  ],
  ops: ['k3e6'],
  head: { width: 1280 },
};

describe('reference counts', () => {
  it('MobileNetV2-1.0 written as a space: 300,774,272 multiply-adds, 3,504,872 parameters', () => {
    const s = resolveSpace(mobilenetV2);
    const arch = new Array<number>(s.layers.length).fill(0);
    assert.equal(s.layers.length, 16);
    assert.equal(archFlops(s, arch), 300_774_272);
    assert.equal(formatCount(archFlops(s, arch)), '300.8M');
    assert.equal(archParams(s, arch), 3_504_872);
  });

  it('W1 path [0,1,2,3,4,5,0,1,2,3,4,5] is 36.0M', () => {
    const s = resolveSpace(JSON.parse(readFileSync(new URL('../../bench/w1.space.json', import.meta.url), 'utf8')));
    const path = JSON.parse(readFileSync(new URL('../../bench/w1.path.json', import.meta.url), 'utf8')).arch as number[];
    assert.deepEqual(path, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    assert.equal(archFlops(s, path), 35_992_864);
    assert.equal(formatCount(archFlops(s, path)), '36.0M');
  });
});

describe('single ops by hand', () => {
  // fmnist layer 0: 16 -> 24, stride 2, 28x28 -> 14x14
  const s = loadSpace('fmnist');
  const t = costTable(s);
  const L0 = s.layers[0] as ResolvedLayer;

  it('layer geometry', () => {
    assert.deepEqual([L0.cin, L0.cout, L0.stride, L0.height, L0.outHeight], [16, 24, 2, 28, 14]);
  });
  it('MBConv k5e6: expand at the input size, depthwise and project at the output size', () => {
    const j = s.opNames.indexOf('k5e6');
    const mid = 96;
    assert.equal(t.flops[0]?.[j], mid * 16 * 28 * 28 + 25 * mid * 14 * 14 + 24 * mid * 14 * 14);
    assert.equal(t.params[0]?.[j], mid * 16 + 2 * mid + 25 * mid + 2 * mid + 24 * mid + 2 * 24);
  });
  it('id at a reduction is a strided 1x1 conv + BN; elsewhere free', () => {
    const j = s.opNames.indexOf('id');
    assert.equal(t.flops[0]?.[j], 24 * 16 * 14 * 14);
    assert.equal(t.params[0]?.[j], 24 * 16 + 2 * 24);
    assert.equal(t.flops[1]?.[j], 0);
    assert.equal(t.params[1]?.[j], 0);
  });
  it('squeeze-excite adds two small fcs with biases', () => {
    const se = loadSpace('greedynas-imagenet-se');
    const ts = costTable(se);
    const a = se.opNames.indexOf('k3e3');
    const b = se.opNames.indexOf('k3e3_se');
    const mid = 16 * 3;
    const r = Math.floor(mid / 4);
    assert.equal((ts.flops[0]?.[b] as number) - (ts.flops[0]?.[a] as number), 2 * r * mid);
    assert.equal((ts.params[0]?.[b] as number) - (ts.params[0]?.[a] as number), r * mid + r + mid * r + mid);
  });
  it('stem, fixed block, head and fc', () => {
    assert.deepEqual(t.fixed.stem, { flops: 16 * 9 * 1 * 28 * 28, params: 16 * 9 + 32 });
    // k3e1: no expand conv
    assert.deepEqual(t.fixed.fixedBlocks[0], { flops: 9 * 16 * 784 + 16 * 16 * 784, params: 9 * 16 + 32 + 16 * 16 + 32 });
    assert.deepEqual(t.fixed.head, { flops: 256 * 96 * 4 * 4, params: 256 * 96 + 512 });
    assert.deepEqual(t.fixed.fc, { flops: 2560, params: 2570 });
  });
});

// Trained tensors of a block, from the table of docs/parameters.md (BN running stats are buffers).
function tensorsOf(prefix: string, layer: ResolvedLayer, op: ResolvedOp): Array<[string, number[]]> {
  const bn = (p: string, c: number): Array<[string, number[]]> => [
    [`${p}.bn.weight`, [c]],
    [`${p}.bn.bias`, [c]],
  ];
  if (op.kind === 'skip') return [];
  if (op.kind === 'conv1x1') return [[`${prefix}.conv.weight`, [layer.cout, layer.cin]], ...bn(prefix, layer.cout)];
  const mid = op.expansion === 1 ? layer.cin : layer.cin * op.expansion;
  const r = Math.max(1, Math.floor(mid * 0.25));
  const out: Array<[string, number[]]> = [];
  if (op.expansion !== 1) out.push([`${prefix}.expand.conv.weight`, [mid, layer.cin]], ...bn(`${prefix}.expand`, mid));
  out.push([`${prefix}.dw.conv.weight`, [op.kernel, op.kernel, mid]], ...bn(`${prefix}.dw`, mid));
  if (op.se) {
    out.push([`${prefix}.se.fc1.weight`, [r, mid]], [`${prefix}.se.fc1.bias`, [r]], [`${prefix}.se.fc2.weight`, [mid, r]], [`${prefix}.se.fc2.bias`, [mid]]);
  }
  out.push([`${prefix}.project.conv.weight`, [layer.cout, mid]], ...bn(`${prefix}.project`, layer.cout));
  return out;
}
const numel = (ts: Array<[string, number[]]>): number => ts.reduce((a, [, shape]) => a + shape.reduce((x, y) => x * y, 1), 0);

function supernetTensors(s: ResolvedSpace): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [
    ['stem.conv.weight', [s.stem.cout, s.stem.kernel, s.stem.kernel, s.stem.cin]],
    ['stem.bn.weight', [s.stem.cout]],
    ['stem.bn.bias', [s.stem.cout]],
  ];
  s.fixed.forEach((f, i) => out.push(...tensorsOf(`fixed.${i}`, f, f.ops[0] as ResolvedOp)));
  s.layers.forEach((l, i) => l.ops.forEach((op, j) => out.push(...tensorsOf(`layers.${i}.${j}`, l, op))));
  out.push(['head.conv.weight', [s.head.cout, s.head.cin]], ['head.bn.weight', [s.head.cout]], ['head.bn.bias', [s.head.cout]]);
  out.push(['fc.weight', [s.fc.classes, s.fc.cin]], ['fc.bias', [s.fc.classes]]);
  return out;
}

describe('parameter counts follow docs/parameters.md', () => {
  for (const name of ['greedynas-imagenet', 'greedynas-imagenet-se', 'fmnist', 'cifar']) {
    it(`${name}: every (layer, op), the fixed parts and the whole supernet`, () => {
      const s = loadSpace(name);
      const t = costTable(s);
      s.layers.forEach((l, i) => l.ops.forEach((op, j) => assert.equal(t.params[i]?.[j], numel(tensorsOf(`layers.${i}.${j}`, l, op)), `layers.${i}.${j} (${op.name})`)));
      assert.equal(t.supernetParams, numel(supernetTensors(s)));
    });
  }
});

describe('cost table', () => {
  const s = loadSpace('cifar');
  const t = costTable(s);

  it('is built once per space', () => {
    assert.equal(costTable(s), t);
    assert.notEqual(costTable(loadSpace('cifar')), t);
  });

  it('a path costs the fixed part plus one entry per layer; min/max are the extreme paths', () => {
    const arch = s.layers.map((_, i) => i % 7);
    const sum = arch.reduce((a, c, l) => a + (t.flops[l]?.[c] as number), t.fixed.total.flops);
    assert.equal(t.archFlops(arch), sum);
    const { minFlops, maxFlops } = t.extremeArchs();
    assert.equal(t.archFlops(minFlops), t.minFlops);
    assert.equal(t.archFlops(maxFlops), t.maxFlops);
    // random paths lie inside
    for (let i = 0; i < 200; i++) {
      const a = s.layers.map((_, l) => (i * 31 + l * 17 + ((i * l) % 5)) % 7);
      const f = t.archFlops(a);
      const p = t.archParams(a);
      assert.ok(f >= t.minFlops && f <= t.maxFlops && p >= t.minParams && p <= t.maxParams);
    }
  });

  it('brute-force min/max on a tiny space', () => {
    const tiny = new CostTable(
      resolveSpace({ ...mobilenetV2, input: { height: 32, width: 32, channels: 3 }, stages: [{ width: 24, layers: 3, stride: 2 }], ops: ['k3e3', 'k7e6', 'id', 'k5e3_se'] }),
    );
    let lo = Infinity;
    let hi = -Infinity;
    let plo = Infinity;
    let phi = -Infinity;
    for (let i = 0; i < 64; i++) {
      const a = [i % 4, (i >> 2) % 4, i >> 4];
      lo = Math.min(lo, tiny.archFlops(a));
      hi = Math.max(hi, tiny.archFlops(a));
      plo = Math.min(plo, tiny.archParams(a));
      phi = Math.max(phi, tiny.archParams(a));
    }
    assert.deepEqual([tiny.minFlops, tiny.maxFlops, tiny.minParams, tiny.maxParams], [lo, hi, plo, phi]);
  });

  it('rejects invalid paths naming the position', () => {
    assert.throws(() => t.archFlops([0, 1]), /expected 13 choice indices, got 2/);
    assert.throws(() => t.archFlops(s.layers.map((_, i) => (i === 4 ? 7 : 0))), /arch\[4\]: expected a choice index in \[0, 6\], got 7/);
    assert.throws(() => t.archParams(s.layers.map((_, i) => (i === 2 ? 1.5 : 0))), /arch\[2\]/);
  });
});
