// ONNX export: graphs load in onnxruntime-node with their metadata, hold only the chosen path's
// ops, cover every op kind numerically (against a slow float64 NHWC forward written here from
// docs/parameters.md, for these tests only), reject bad input clearly, and match the engine's
// eval-mode forward (that part runs only when the native addon is built).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSpace } from '../src/space/resolve.js';
import type { Arch, ResolvedSpace, SpaceFile } from '../src/space/types.js';
import { archFlops } from '../src/space/cost.js';
import { Rng } from '../src/util/rng.js';
import {
  ArchError,
  buildOnnxModel,
  exportOnnx,
  modelMetadata,
  opCounts,
  parseModel,
  randomTensorSource,
  writeOnnx,
  type TensorSource,
} from '../src/export/onnx.js';
import { ParityError, checkParity, defaultCheckPath, diffStats, nhwcToNchw, openSession, runNchw, verifyCheckFile, writeCheckFile, type ParityEngine } from '../src/export/parity.js';

const OPS = ['k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6', 'id', 'k3e3_se'];

function spaceFile(activation: SpaceFile['activation']): SpaceFile {
  return {
    name: `export-test-${activation}`,
    input: { height: 12, width: 12, channels: 3 },
    classes: 5,
    activation,
    stem: { width: 8, stride: 1, kernel: 3 },
    // e1 block with a residual, then an SE block that changes width
    fixedBlocks: [
      { kernel: 3, expansion: 1, width: 8, stride: 1 },
      { kernel: 5, expansion: 2, width: 10, stride: 1, se: true },
    ],
    // layer 0: reduction (stride 2, 10 -> 12); layers 1, 2: plain (12 -> 12); layer 3: width change at stride 1 (12 -> 16)
    stages: [
      { width: 12, layers: 3, stride: 2 },
      { width: 16, layers: 1, stride: 1 },
    ],
    ops: OPS,
    head: { width: 24 },
    bn: { eps: 1e-3 },
    normalization: { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] },
  };
}

const relu6Space = resolveSpace(spaceFile('relu6'));
const hswishSpace = resolveSpace(spaceFile('hswish'));
const reluSpace = resolveSpace(spaceFile('relu'));

// ---------------------------------------------------------------------------------------------
// Slow float64 NHWC forward (eval-mode BN), reading our channels-last tensors directly.

interface Map3 {
  h: number;
  w: number;
  c: number;
  d: Float64Array;
}

function refForward(space: ResolvedSpace, arch: Arch, src: TensorSource, image: Float32Array): Float64Array {
  const act = (v: number): number =>
    space.activation === 'relu' ? Math.max(0, v) : space.activation === 'relu6' ? Math.min(6, Math.max(0, v)) : (v * Math.min(6, Math.max(0, v + 3))) / 6;
  const conv = (x: Map3, w: Float32Array, cout: number, k: number, s: number, depthwise: boolean): Map3 => {
    const p = Math.floor(k / 2);
    const oh = Math.floor((x.h + 2 * p - k) / s) + 1;
    const ow = Math.floor((x.w + 2 * p - k) / s) + 1;
    const d = new Float64Array(oh * ow * cout);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let o = 0; o < cout; o++) {
          let acc = 0;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s - p + ky;
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s - p + kx;
              if (ix < 0 || ix >= x.w) continue;
              const base = (iy * x.w + ix) * x.c;
              if (depthwise) acc += x.d[base + o]! * w[(ky * k + kx) * cout + o]!;
              else for (let c = 0; c < x.c; c++) acc += x.d[base + c]! * w[((o * k + ky) * k + kx) * x.c + c]!;
            }
          }
          d[(oy * ow + ox) * cout + o] = acc;
        }
      }
    }
    return { h: oh, w: ow, c: cout, d };
  };
  const bn = (x: Map3, p: string, withAct: boolean): Map3 => {
    const g = src(`${p}.bn.weight`, [x.c]);
    const b = src(`${p}.bn.bias`, [x.c]);
    const m = src(`${p}.bn.running_mean`, [x.c]);
    const v = src(`${p}.bn.running_var`, [x.c]);
    for (let i = 0; i < x.d.length; i++) {
      const c = i % x.c;
      const y = ((x.d[i]! - m[c]!) / Math.sqrt(v[c]! + space.bnEps)) * g[c]! + b[c]!;
      x.d[i] = withAct ? act(y) : y;
    }
    return x;
  };
  const convBn = (x: Map3, p: string, cout: number, k: number, s: number, dw: boolean, withAct: boolean): Map3 => {
    const shape = dw ? [k, k, cout] : k === 1 ? [cout, x.c] : [cout, k, k, x.c];
    return bn(conv(x, src(`${p}.conv.weight`, shape), cout, k, s, dw), p, withAct);
  };
  const block = (x: Map3, L: ResolvedSpace['layers'][number], op: ResolvedSpace['layers'][number]['ops'][number], p: string): Map3 => {
    if (op.kind === 'skip') return x;
    if (op.kind === 'conv1x1') return convBn(x, p, L.cout, 1, L.stride, false, false);
    let h = op.expansion === 1 ? x : convBn(x, `${p}.expand`, op.mid, 1, 1, false, true);
    h = convBn(h, `${p}.dw`, op.mid, op.kernel, L.stride, true, true);
    if (op.se) {
      const r = op.seWidth;
      const pooled = new Float64Array(h.c);
      for (let i = 0; i < h.d.length; i++) pooled[i % h.c] = pooled[i % h.c]! + h.d[i]! / (h.h * h.w);
      const w1 = src(`${p}.se.fc1.weight`, [r, h.c]);
      const b1 = src(`${p}.se.fc1.bias`, [r]);
      const w2 = src(`${p}.se.fc2.weight`, [h.c, r]);
      const b2 = src(`${p}.se.fc2.bias`, [h.c]);
      const hid = Array.from({ length: r }, (_, j) => Math.max(0, pooled.reduce((a, v, c) => a + v * w1[j * h.c + c]!, b1[j]!)));
      const gate = Array.from({ length: h.c }, (_, c) => 1 / (1 + Math.exp(-hid.reduce((a, v, j) => a + v * w2[c * r + j]!, b2[c]!))));
      for (let i = 0; i < h.d.length; i++) h.d[i] = h.d[i]! * gate[i % h.c]!;
    }
    const y = convBn(h, `${p}.project`, L.cout, 1, 1, false, false);
    if (L.stride === 1 && L.cin === L.cout) for (let i = 0; i < y.d.length; i++) y.d[i] = y.d[i]! + x.d[i]!;
    return y;
  };
  let x: Map3 = { h: space.input.height, w: space.input.width, c: space.input.channels, d: Float64Array.from(image) };
  x = convBn(x, 'stem', space.stem.cout, space.stem.kernel, space.stem.stride, false, true);
  space.fixed.forEach((L, i) => {
    x = block(x, L, L.ops[0]!, `fixed.${i}`);
  });
  arch.forEach((j, l) => {
    const L = space.layers[l]!;
    x = block(x, L, L.ops[j]!, `layers.${l}.${j}`);
  });
  x = convBn(x, 'head', space.head.cout, 1, 1, false, true);
  const pooled = new Float64Array(x.c);
  for (let i = 0; i < x.d.length; i++) pooled[i % x.c] = pooled[i % x.c]! + x.d[i]! / (x.h * x.w);
  const fw = src('fc.weight', [space.classes, x.c]);
  const fb = src('fc.bias', [space.classes]);
  return Float64Array.from({ length: space.classes }, (_, k) => pooled.reduce((a, v, c) => a + v * fw[k * x.c + c]!, fb[k]!));
}

function randomNormalizedImages(space: ResolvedSpace, n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * space.input.height * space.input.width * space.input.channels }, () => 4 * rng.float() - 2);
}

/** Expected Conv count of a path, from the resolved geometry. */
function expectedConvs(space: ResolvedSpace, arch: Arch): number {
  const opConvs = (op: ResolvedSpace['layers'][number]['ops'][number]): number =>
    op.kind === 'skip' ? 0 : op.kind === 'conv1x1' ? 1 : (op.expansion === 1 ? 0 : 1) + 2 + (op.se ? 2 : 0);
  return 1 + space.fixed.reduce((a, L) => a + opConvs(L.ops[0]!), 0) + arch.reduce((a, j, l) => a + opConvs(space.layers[l]!.ops[j]!), 0) + 1;
}

function idx(name: string): number {
  const i = OPS.indexOf(name);
  assert.ok(i >= 0);
  return i;
}

// Paths that together put every op at the reduction layer 0, at the plain layers 1-2 and at the
// width-changing stride-1 layer 3.
const COVER: Arch[] = [
  [idx('id'), idx('id'), idx('k3e3'), idx('id')],
  [idx('k3e6'), idx('k5e3'), idx('k7e6'), idx('k3e3_se')],
  [idx('k5e6'), idx('k7e3'), idx('k3e3_se'), idx('k5e3')],
  [idx('k7e3'), idx('k3e3_se'), idx('k5e6'), idx('k7e6')],
  [idx('k3e3_se'), idx('k7e6'), idx('k3e6'), idx('k3e3')],
  [idx('k3e3'), idx('k3e6'), idx('id'), idx('k5e6')],
  [idx('k7e6'), idx('k5e6'), idx('k7e3'), idx('k3e6')],
  [idx('k5e3'), idx('k3e3'), idx('k5e3'), idx('k7e3')],
];

test('coverage paths really cover every op at every kind of layer', () => {
  for (let l = 0; l < 4; l++) {
    const seen = new Set(COVER.map((a) => a[l]));
    assert.equal(seen.size, OPS.length, `layer ${l} misses an op`);
  }
  assert.equal(relu6Space.layers[0]!.ops[idx('id')]!.kind, 'conv1x1');
  assert.equal(relu6Space.layers[1]!.ops[idx('id')]!.kind, 'skip');
  assert.equal(relu6Space.layers[3]!.ops[idx('id')]!.kind, 'conv1x1');
});

test('exported model loads in onnxruntime with dynamic batch and carries its metadata', async () => {
  const arch = COVER[1]!;
  const bytes = exportOnnx(relu6Space, arch, randomTensorSource(1), { flops: 123456, params: 7890 });
  const model = parseModel(bytes);
  assert.equal(model.producerName, 'greedynas');
  assert.match(model.producerVersion, /^\d+\.\d+\.\d+/);
  assert.ok(model.opsetImport.some((o) => o.domain === '' && o.version >= 13n));
  const meta = modelMetadata(model);
  assert.equal(meta.space, relu6Space.name);
  assert.equal(meta.arch, arch.join('-'));
  assert.equal(meta.flops, '123456');
  assert.equal(meta.params, '7890');
  assert.equal(meta.ops, arch.map((j) => OPS[j]).join(','));
  assert.match(meta.input_layout ?? '', /normalised/);

  const session = await openSession(bytes);
  try {
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, ['logits']);
    const im = session.inputMetadata[0]!;
    assert.ok(im.isTensor);
    if (im.isTensor) assert.deepEqual(im.shape, ['batch', 3, 12, 12]);
    const om = session.outputMetadata[0]!;
    if (om.isTensor) assert.deepEqual(om.shape, ['batch', 5]);
    for (const n of [1, 3]) {
      const out = await runNchw(session, new Float32Array(n * 3 * 12 * 12).fill(0.1), [n, 3, 12, 12]);
      assert.equal(out.length, n * 5);
      assert.ok(out.every(Number.isFinite));
    }
  } finally {
    await session.release();
  }
});

test('every supported opset loads and gives the same logits', async () => {
  const src = randomTensorSource(6);
  const arch = COVER[1]!;
  const x = nhwcToNchw(randomNormalizedImages(hswishSpace, 1, 2), 1, 12, 12, 3);
  let first: Float32Array | undefined;
  for (const opset of [13, 15, 17, 18, 19, 21]) {
    for (const foldBn of [true, false]) {
      const session = await openSession(exportOnnx(hswishSpace, arch, src, { opset, foldBn }));
      const got = await runNchw(session, x, [1, 3, 12, 12]);
      await session.release();
      first ??= got;
      assert.ok(diffStats(got, first, 5).maxRelDiff < 1e-5, `opset ${opset} foldBn ${foldBn}`);
    }
  }
});

test('default FLOPs/params metadata come from the cost table and match the tensors the graph reads', () => {
  const src = randomTensorSource(4);
  for (const arch of COVER) {
    let trained = 0;
    const counting: TensorSource = (name, shape) => {
      if (!/running_(mean|var)$/.test(name)) trained += shape.reduce((a, b) => a * b, 1);
      return src(name, shape);
    };
    const meta = modelMetadata(buildOnnxModel(relu6Space, arch, counting));
    assert.equal(meta.flops, String(archFlops(relu6Space, arch)));
    assert.equal(meta.params, String(trained), `params of ${arch.join('-')}`);
  }
});

test('graph holds only the chosen ops: Conv count, initializer names, no BN when folded', () => {
  for (const space of [relu6Space, hswishSpace]) {
    for (const arch of COVER) {
      const model = buildOnnxModel(space, arch, randomTensorSource(2));
      const counts = opCounts(model);
      assert.equal(counts.Conv ?? 0, expectedConvs(space, arch), `Conv count of ${arch.join('-')}`);
      assert.equal(counts.BatchNormalization, undefined);
      assert.equal(counts.Gemm, 1);
      const residuals = [...space.fixed.map((L) => ({ L, op: L.ops[0]! })), ...arch.map((j, l) => ({ L: space.layers[l]!, op: space.layers[l]!.ops[j]! }))].filter(
        ({ L, op }) => op.kind === 'mbconv' && L.stride === 1 && L.cin === L.cout,
      ).length;
      assert.equal(counts.Add ?? 0, residuals);
      for (const t of model.graph!.initializer) {
        const m = /^layers\.(\d+)\.(\d+)\./.exec(t.name);
        if (m) assert.equal(Number(m[2]), arch[Number(m[1])], `initializer ${t.name} is not on the path`);
        else assert.match(t.name, /^(stem|fixed\.\d+|head|fc|const)\./);
      }
      if (space.activation === 'relu6') assert.equal(counts.HardSigmoid, undefined);
      else assert.equal(counts.Clip, undefined);
    }
  }
  const unfolded = opCounts(buildOnnxModel(relu6Space, COVER[1]!, randomTensorSource(2), { foldBn: false }));
  assert.equal(unfolded.BatchNormalization, unfolded.Conv! - 4, 'one BN per conv except the 4 SE convs (fixed block 1 and layer 3)');
});

for (const space of [relu6Space, hswishSpace, reluSpace]) {
  test(`every op matches a float64 NHWC forward (${space.activation}), BN folded and kept`, async () => {
    const src = randomTensorSource(7);
    const n = 2;
    const { height: H, width: W, channels: C } = space.input;
    const images = randomNormalizedImages(space, n, 11);
    const x = nhwcToNchw(images, n, H, W, C);
    const paths = space.activation === 'relu6' ? COVER : COVER.slice(0, 3);
    for (const arch of paths) {
      const ref = new Float64Array(n * space.classes);
      for (let b = 0; b < n; b++) ref.set(refForward(space, arch, src, images.subarray(b * H * W * C, (b + 1) * H * W * C)), b * space.classes);
      for (const foldBn of [true, false]) {
        const session = await openSession(exportOnnx(space, arch, src, { foldBn }));
        const got = await runNchw(session, x, [n, C, H, W]);
        await session.release();
        const d = diffStats(got, ref, space.classes);
        assert.ok(d.refScale > 1e-2, 'logits are not trivially small');
        assert.ok(d.maxRelDiff < 1e-5, `arch ${arch.join('-')} foldBn ${foldBn}: rel diff ${d.maxRelDiff}`);
      }
    }
  });
}

test('bad arch and bad tensors give clear errors', () => {
  const src = randomTensorSource(0);
  assert.throws(() => exportOnnx(relu6Space, [0, 1, 2], src), (e: unknown) => e instanceof ArchError && /expected 4 choice indices.*got 3.*space 'export-test-relu6'/.test(e.message));
  assert.throws(() => exportOnnx(relu6Space, [0, 1, 8, 0], src), (e: unknown) => e instanceof ArchError && /arch\[2\]: expected a choice index in \[0, 7\].*got 8.*7=k3e3_se/.test(e.message));
  assert.throws(() => exportOnnx(relu6Space, [0, 1.5, 2, 0], src), (e: unknown) => e instanceof ArchError && /arch\[1\]/.test(e.message));
  assert.throws(() => exportOnnx(relu6Space, 'k3e3' as unknown as Arch, src), ArchError);
  const short: TensorSource = (name, shape) => (name === 'head.conv.weight' ? new Float32Array(3) : src(name, shape));
  assert.throws(() => exportOnnx(relu6Space, COVER[0]!, short), /'head\.conv\.weight' has 3 values, expected 384/);
  assert.throws(() => exportOnnx(relu6Space, COVER[0]!, src, { opset: 9 }), /opset/);
});

test('writeOnnx writes the file and names an unwritable path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'greedynas-onnx-'));
  try {
    const res = await writeOnnx(join(dir, 'sub', 'm.onnx'), relu6Space, COVER[2]!, randomTensorSource(3));
    assert.ok(res.bytes > 1000);
    assert.equal((await readFile(res.path)).length, res.bytes);
    const blocker = join(dir, 'file');
    await writeFile(blocker, 'x');
    await assert.rejects(writeOnnx(join(blocker, 'm.onnx'), relu6Space, COVER[2]!, randomTensorSource(3)), /cannot write ONNX model to '.*file\/m\.onnx'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('check file round trip: verifyCheckFile accepts correct logits and rejects altered ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'greedynas-check-'));
  try {
    const space = hswishSpace;
    const src = randomTensorSource(5);
    const arch = COVER[3]!;
    const modelPath = join(dir, 'p.onnx');
    await writeOnnx(modelPath, space, arch, src);
    const { height: H, width: W, channels: C } = space.input;
    const images = randomNormalizedImages(space, 2, 3);
    const logits = new Float32Array(2 * space.classes);
    for (let b = 0; b < 2; b++) logits.set(refForward(space, arch, src, images.subarray(b * H * W * C, (b + 1) * H * W * C)), b * space.classes);
    const base = { model: 'p.onnx', space: space.name, arch: arch.join('-'), inputNchw: nhwcToNchw(images, 2, H, W, C), inputDims: [2, C, H, W], classes: space.classes, tolerance: 1e-4 };
    await writeCheckFile(defaultCheckPath(modelPath), { ...base, logits });
    const ok = await verifyCheckFile(modelPath);
    assert.ok(ok.passed, `rel diff ${ok.maxRelDiff}`);
    const bad = logits.slice();
    bad[3] = bad[3]! + 0.05;
    await writeCheckFile(defaultCheckPath(modelPath), { ...base, logits: bad });
    assert.equal((await verifyCheckFile(modelPath)).passed, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Parity with the native engine (eval mode). Needs src/native/engine.ts and the built addon.

const addonPath = new URL('../../build/Release/greedynas.node', import.meta.url);
const engineModule = new URL('../src/native/engine.js', import.meta.url);
const engineSkip = !existsSync(addonPath)
  ? `native addon not built (${addonPath.pathname} missing): run npm run build:native`
  : !existsSync(engineModule)
    ? `src/native/engine.ts not compiled (${engineModule.pathname} missing)`
    : false;

interface EngineLike extends ParityEngine {
  getTensor(name: string): Float32Array;
  setTensor(name: string, data: Float32Array): void;
  tensorInfo(): Array<{ name: string; shape: number[] }>;
  calibrateBn(arch: Arch, batches: Uint8Array[]): Promise<unknown>;
}
interface EngineModule {
  Supernet: { create(space: SpaceFile, opts: { seed: number; threads: number; backend: 'cpu' }): Promise<EngineLike> };
}

test('ONNX logits match the engine eval-mode forward on several paths', { skip: engineSkip }, async () => {
  const { Supernet } = (await import(engineModule.href)) as EngineModule;
  const dir = await mkdtemp(join(tmpdir(), 'greedynas-parity-'));
  try {
    for (const activation of ['relu6', 'hswish'] as const) {
      // weights: the engine's own init with BN statistics calibrated on images, or every tensor
      // (BN statistics, SE biases, fc included) set to random values so that logits are O(1)
      for (const weights of ['init+calibrated', 'random'] as const) {
        const net = await Supernet.create(spaceFile(activation), { seed: 3, threads: 1, backend: 'cpu' });
        const space = net.space;
        const per = space.input.height * space.input.width * space.input.channels;
        const rng = new Rng(17);
        const images = Uint8Array.from({ length: 6 * per }, () => rng.int(256));
        const calib = [Uint8Array.from({ length: 16 * per }, () => rng.int(256))];
        if (weights === 'random') {
          const src = randomTensorSource(9);
          for (const t of net.tensorInfo()) net.setTensor(t.name, src(t.name, t.shape));
        }
        for (const arch of activation === 'relu6' ? COVER : COVER.slice(0, 3)) {
          if (weights === 'init+calibrated') await net.calibrateBn(arch, calib);
          const modelPath = join(dir, `${activation}-${weights}-${arch.join('-')}.onnx`);
          await writeOnnx(modelPath, space, arch, (name) => net.getTensor(name));
          const report = await checkParity(modelPath, net, arch, images);
          assert.ok(report.passed);
          assert.ok(report.maxRelDiff <= 1e-4, `${arch.join('-')}: ${report.maxRelDiff}`);
          assert.ok(report.refScale > (weights === 'random' ? 0.1 : 1e-4), `logit scale ${report.refScale}`);
          const verified = await verifyCheckFile(modelPath);
          assert.ok(verified.passed);
          const check = JSON.parse(await readFile(report.checkFile!, 'utf8')) as { input: { shape: number[] }; output: { shape: number[] } };
          assert.deepEqual(check.input.shape, [2, 3, 12, 12]);
          assert.deepEqual(check.output.shape, [2, 5]);
          console.log(`parity ${activation} ${weights} ${arch.join('-')}: |logit| <= ${report.refScale.toPrecision(3)}, max abs ${report.maxAbsDiff.toExponential(2)}, max rel ${report.maxRelDiff.toExponential(2)}`);
        }
        // a model with other weights than the engine's fails parity and gets no check file
        const arch = COVER[1]!;
        const wrong = join(dir, `wrong-${activation}-${weights}.onnx`);
        await writeOnnx(wrong, space, arch, randomTensorSource(123));
        await assert.rejects(checkParity(wrong, net, arch, images), (e: unknown) => e instanceof ParityError && /differs from the engine/.test(e.message));
        assert.equal(existsSync(defaultCheckPath(wrong)), false);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
