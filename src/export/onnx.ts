// ONNX export of one path of the supernet: a static graph holding only the chosen op of every
// searchable layer, in standard ONNX ops (opset 17 by default), written with onnx-buf.
//
// Layout: the model takes NCHW float32 images that are ALREADY NORMALISED with the space's
// per-channel mean and std, i.e. input = (pixel / 255 - mean[c]) / std[c]; the engine does the same
// normalisation natively (Supernet.normalize), so callers pass its output, transposed to NCHW.
// Input `input` [batch, C, H, W] (batch is the symbolic dimension "batch"); output `logits`
// [batch, classes]. Our tensors are channels-last (docs/parameters.md); they are transposed here to
// ONNX's OIHW. Batch norm is folded into the preceding conv by default (the model then holds only
// Conv, activations, GlobalAveragePool, Mul/Add/Sigmoid for SE, Flatten and Gemm); `foldBn: false`
// keeps BatchNormalization nodes instead.
//
// The same builder also emits the pieces that the latency lookup table measures one by one
// (src/profile/latency-table.ts): the prefix (stem + fixed blocks), one (layer, op) block, the
// suffix (head + classifier).
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { archSpaceOf, assertArch } from '../space/arch.js';
import { archFlops, archParams } from '../space/cost.js';
import { Rng } from '../util/rng.js';
import { archKey, type Arch, type ResolvedLayer, type ResolvedOp, type ResolvedSpace } from '../space/types.js';

/**
 * Gives one of our named tensors (docs/parameters.md), BN running statistics included, in our
 * channels-last layout. `shape` is the shape the exporter expects (our layout); a source may ignore
 * it (e.g. `(name) => net.getTensor(name)`). The returned array must have exactly that many values.
 */
export type TensorSource = (name: string, shape: readonly number[]) => Float32Array;

export interface ExportOptions {
  /** Fold every BN into the conv before it (default true); false keeps BatchNormalization nodes. */
  foldBn?: boolean;
  /** ONNX opset of the default domain, 13..21 (default 17). */
  opset?: number;
  /** Multiply-adds of the path for metadata "flops" (default: src/space/cost.ts archFlops). */
  flops?: number;
  /** Trained parameters of the path for metadata "params" (default: src/space/cost.ts archParams). */
  params?: number;
  /** Extra metadata_props entries. */
  metadata?: Record<string, string>;
  /** Graph name (default "<space>-<arch key>"). */
  graphName?: string;
}

/** A piece of the supernet that can be exported on its own. */
export type Segment =
  | { kind: 'path'; arch: Arch }
  /** Stem and fixed blocks: image in, features of the first searchable layer out. */
  | { kind: 'prefix' }
  /** One candidate op of one searchable layer. */
  | { kind: 'block'; layer: number; choice: number }
  /** Head conv, pooling and classifier: features of the head in, logits out. */
  | { kind: 'suffix' };

export const DEFAULT_OPSET = 17;
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
/** Symbolic name of the batch dimension of the input and output. */
export const BATCH_DIM = 'batch';
/** The IR version that came with an opset (ONNX 1.13: IR 8 / opset 18, 1.15: 9 / 20, 1.16: 10 / 21). */
function irVersionFor(opset: number): bigint {
  return opset <= 18 ? 8n : opset <= 20 ? 9n : 10n;
}

/** A bad path (wrong length, choice out of range); a RangeError, like src/space/arch.ts's. */
export class ArchError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ArchError';
  }
}

/** Throws ArchError unless `arch` has one valid choice index per searchable layer of `space`. */
export function checkArch(space: ResolvedSpace, arch: unknown): asserts arch is Arch {
  try {
    assertArch(arch, archSpaceOf(space));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ArchError(`${e.message} (space '${space.name}': ${space.layers.length} searchable layers, ops ${space.opNames.map((o, j) => `${j}=${o}`).join(' ')})`);
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// Small protobuf helpers.

function attrInt(name: string, v: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) });
}
function attrInts(name: string, v: readonly number[]): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: v.map((x) => BigInt(x)) });
}
function attrFloat(name: string, v: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: v });
}

function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const bytes = new Uint8Array(data.byteLength);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType: TensorProto_DataType.FLOAT, rawData: bytes });
}

function valueInfo(name: string, dims: ReadonlyArray<number | string>): ValueInfoProto {
  const dim = dims.map((d) =>
    create(TensorShapeProto_DimensionSchema, { value: typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) } }),
  );
  const tensorType = create(TypeProto_TensorSchema, { elemType: TensorProto_DataType.FLOAT, shape: create(TensorShapeProtoSchema, { dim }) });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

// ---------------------------------------------------------------------------------------------
// Layout conversion (ours -> ONNX).

/** [K][k][k][C] -> [K][C][k][k]. */
function denseToOihw(w: Float32Array, K: number, k: number, C: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < K; o++) {
    for (let y = 0; y < k; y++) {
      for (let x = 0; x < k; x++) {
        for (let c = 0; c < C; c++) out[((o * C + c) * k + y) * k + x] = w[((o * k + y) * k + x) * C + c]!;
      }
    }
  }
  return out;
}

/** Depthwise [k][k][C] -> [C][1][k][k]. */
function depthwiseToOihw(w: Float32Array, k: number, C: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < k; y++) {
    for (let x = 0; x < k; x++) {
      for (let c = 0; c < C; c++) out[(c * k + y) * k + x] = w[(y * k + x) * C + c]!;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Graph builder.

interface ConvSpec {
  /** Tensor prefix: weights at `${prefix}.conv.weight`, BN at `${prefix}.bn.*`. */
  prefix: string;
  kind: 'dense' | 'depthwise';
  cout: number;
  cin: number;
  kernel: number;
  stride: number;
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(
    private readonly space: ResolvedSpace,
    private readonly source: TensorSource,
    private readonly foldBn: boolean,
  ) {
    this.names.add(INPUT_NAME);
  }

  /** Reads one of our tensors and checks its size. */
  private tensor(name: string, shape: readonly number[]): Float32Array {
    const size = shape.reduce((a, b) => a * b, 1);
    let t: unknown;
    try {
      t = this.source(name, shape);
    } catch (e) {
      throw new Error(`tensor source failed for '${name}': ${(e as Error).message}`, { cause: e });
    }
    if (!(t instanceof Float32Array)) throw new Error(`tensor source: '${name}' must be a Float32Array, got ${describe(t)}`);
    if (t.length !== size) throw new Error(`tensor source: '${name}' has ${t.length} values, expected ${size} (shape [${shape.join(', ')}])`);
    return t;
  }

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private init(name: string, dims: readonly number[], data: Float32Array): string {
    const n = this.unique(name);
    this.initializers.push(floatTensor(n, dims, data));
    return n;
  }

  /** A shared float scalar constant. */
  private scalar(v: number): string {
    const key = String(v);
    let n = this.constants.get(key);
    if (n === undefined) {
      n = this.init(`const.${key}`, [], new Float32Array([v]));
      this.constants.set(key, n);
    }
    return n;
  }

  node(opType: string, inputs: string[], outName: string, attrs: AttributeProto[] = []): string {
    const out = this.unique(outName);
    this.nodes.push(create(NodeProtoSchema, { opType, input: inputs, output: [out], name: out, attribute: attrs }));
    return out;
  }

  /** conv (our layout) -> BN, BN folded into the weights or kept as a node. */
  convBn(x: string, s: ConvSpec): string {
    const { prefix, kind, cout, cin, kernel: k, stride } = s;
    let w: Float32Array;
    let dims: number[];
    if (kind === 'depthwise') {
      if (cin !== cout) throw new Error(`${prefix}: depthwise conv needs cin == cout`);
      w = depthwiseToOihw(this.tensor(`${prefix}.conv.weight`, [k, k, cout]), k, cout);
      dims = [cout, 1, k, k];
    } else if (k === 1) {
      w = this.tensor(`${prefix}.conv.weight`, [cout, cin]).slice();
      dims = [cout, cin, 1, 1];
    } else {
      w = denseToOihw(this.tensor(`${prefix}.conv.weight`, [cout, k, k, cin]), cout, k, cin);
      dims = [cout, cin, k, k];
    }
    const gamma = this.tensor(`${prefix}.bn.weight`, [cout]);
    const beta = this.tensor(`${prefix}.bn.bias`, [cout]);
    const mean = this.tensor(`${prefix}.bn.running_mean`, [cout]);
    const variance = this.tensor(`${prefix}.bn.running_var`, [cout]);
    const pad = Math.floor(k / 2);
    const attrs = [attrInts('kernel_shape', [k, k]), attrInts('strides', [stride, stride]), attrInts('pads', [pad, pad, pad, pad]), attrInt('group', kind === 'depthwise' ? cout : 1)];
    if (this.foldBn) {
      const per = w.length / cout;
      const bias = new Float32Array(cout);
      for (let o = 0; o < cout; o++) {
        const scale = gamma[o]! / Math.sqrt(variance[o]! + this.space.bnEps);
        for (let i = o * per; i < (o + 1) * per; i++) w[i] = w[i]! * scale;
        bias[o] = beta[o]! - mean[o]! * scale;
      }
      const wn = this.init(`${prefix}.conv.weight`, dims, w);
      const bn = this.init(`${prefix}.conv.bias`, [cout], bias);
      return this.node('Conv', [x, wn, bn], `${prefix}.conv`, attrs);
    }
    const wn = this.init(`${prefix}.conv.weight`, dims, w);
    const c = this.node('Conv', [x, wn], `${prefix}.conv`, attrs);
    const bnInputs = [
      this.init(`${prefix}.bn.weight`, [cout], gamma.slice()),
      this.init(`${prefix}.bn.bias`, [cout], beta.slice()),
      this.init(`${prefix}.bn.running_mean`, [cout], mean.slice()),
      this.init(`${prefix}.bn.running_var`, [cout], variance.slice()),
    ];
    return this.node('BatchNormalization', [c, ...bnInputs], `${prefix}.bn`, [attrFloat('epsilon', this.space.bnEps)]);
  }

  /** The space's activation. */
  act(x: string, name: string): string {
    switch (this.space.activation) {
      case 'relu':
        return this.node('Relu', [x], `${name}.relu`);
      case 'relu6':
        return this.node('Clip', [x, this.scalar(0), this.scalar(6)], `${name}.relu6`);
      case 'hswish': {
        // hswish(x) = x * relu6(x + 3) / 6 = x * HardSigmoid(x; alpha 1/6, beta 0.5)
        const g = this.node('HardSigmoid', [x], `${name}.hsigmoid`, [attrFloat('alpha', 1 / 6), attrFloat('beta', 0.5)]);
        return this.node('Mul', [x, g], `${name}.hswish`);
      }
    }
  }

  /** Squeeze-excite on NCHW x with `mid` channels and `r` hidden units. */
  se(x: string, prefix: string, mid: number, r: number): string {
    const pooled = this.node('GlobalAveragePool', [x], `${prefix}.se.pool`);
    const fc1w = this.init(`${prefix}.se.fc1.weight`, [r, mid, 1, 1], this.tensor(`${prefix}.se.fc1.weight`, [r, mid]).slice());
    const fc1b = this.init(`${prefix}.se.fc1.bias`, [r], this.tensor(`${prefix}.se.fc1.bias`, [r]).slice());
    const fc2w = this.init(`${prefix}.se.fc2.weight`, [mid, r, 1, 1], this.tensor(`${prefix}.se.fc2.weight`, [mid, r]).slice());
    const fc2b = this.init(`${prefix}.se.fc2.bias`, [mid], this.tensor(`${prefix}.se.fc2.bias`, [mid]).slice());
    const one = [attrInts('kernel_shape', [1, 1])];
    const h = this.node('Relu', [this.node('Conv', [pooled, fc1w, fc1b], `${prefix}.se.fc1`, one)], `${prefix}.se.relu`);
    const gate = this.node('Sigmoid', [this.node('Conv', [h, fc2w, fc2b], `${prefix}.se.fc2`, one)], `${prefix}.se.gate`);
    return this.node('Mul', [x, gate], `${prefix}.se.scale`);
  }

  /** One op of a layer (a fixed block or a searchable layer's choice); tensors under `prefix`. */
  op(x: string, layer: ResolvedLayer, op: ResolvedOp, prefix: string): string {
    switch (op.kind) {
      case 'skip':
        return x;
      case 'conv1x1':
        return this.convBn(x, { prefix, kind: 'dense', cout: layer.cout, cin: layer.cin, kernel: 1, stride: layer.stride });
      case 'mbconv': {
        let h = x;
        if (op.expansion !== 1) {
          h = this.convBn(h, { prefix: `${prefix}.expand`, kind: 'dense', cout: op.mid, cin: layer.cin, kernel: 1, stride: 1 });
          h = this.act(h, `${prefix}.expand`);
        }
        h = this.convBn(h, { prefix: `${prefix}.dw`, kind: 'depthwise', cout: op.mid, cin: op.mid, kernel: op.kernel, stride: layer.stride });
        h = this.act(h, `${prefix}.dw`);
        if (op.se) h = this.se(h, prefix, op.mid, op.seWidth);
        h = this.convBn(h, { prefix: `${prefix}.project`, kind: 'dense', cout: layer.cout, cin: op.mid, kernel: 1, stride: 1 });
        if (layer.stride === 1 && layer.cin === layer.cout) h = this.node('Add', [x, h], `${prefix}.residual`);
        return h;
      }
    }
  }

  prefix(x: string): string {
    const st = this.space.stem;
    let h = this.convBn(x, { prefix: 'stem', kind: 'dense', cout: st.cout, cin: st.cin, kernel: st.kernel, stride: st.stride });
    h = this.act(h, 'stem');
    this.space.fixed.forEach((layer, i) => {
      h = this.op(h, layer, layer.ops[0]!, `fixed.${i}`);
    });
    return h;
  }

  block(x: string, l: number, j: number): string {
    const layer = this.space.layers[l]!;
    return this.op(x, layer, layer.ops[j]!, `layers.${l}.${j}`);
  }

  suffix(x: string): string {
    const hd = this.space.head;
    let h = this.convBn(x, { prefix: 'head', kind: 'dense', cout: hd.cout, cin: hd.cin, kernel: 1, stride: 1 });
    h = this.act(h, 'head');
    h = this.node('GlobalAveragePool', [h], 'head.pool');
    h = this.node('Flatten', [h], 'head.flatten', [attrInt('axis', 1)]);
    const { cin, classes } = this.space.fc;
    const w = this.init('fc.weight', [classes, cin], this.tensor('fc.weight', [classes, cin]).slice());
    const b = this.init('fc.bias', [classes], this.tensor('fc.bias', [classes]).slice());
    return this.node('Gemm', [h, w, b], 'fc', [attrInt('transB', 1)]);
  }

  /** Makes `x` the graph output named `name` (through Identity when x is not produced by a node under that name). */
  output(x: string, name: string): void {
    const last = this.nodes[this.nodes.length - 1];
    if (last && last.output[0] === x && !this.names.has(name)) {
      last.output[0] = name;
      last.name = name;
      this.names.add(name);
      return;
    }
    this.node('Identity', [x], name);
  }
}

// ---------------------------------------------------------------------------------------------
// Public entry points.

let producerVersionCache: string | undefined;

/** greedynas's version from the package.json above this file ("0.0.0" when not found). */
export function producerVersion(): string {
  if (producerVersionCache !== undefined) return producerVersionCache;
  producerVersionCache = '0.0.0';
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'greedynas' && typeof pkg.version === 'string') {
        producerVersionCache = pkg.version;
        break;
      }
    } catch {
      // keep walking up
    }
    dir = new URL('..', dir);
  }
  return producerVersionCache;
}

/** Input and output shapes (without the batch dimension) of a segment. */
export function segmentShapes(space: ResolvedSpace, seg: Segment): { input: number[]; output: number[] } {
  switch (seg.kind) {
    case 'path':
      return { input: [space.input.channels, space.input.height, space.input.width], output: [space.classes] };
    case 'prefix': {
      const first = space.layers[0]!;
      return { input: [space.input.channels, space.input.height, space.input.width], output: [first.cin, first.height, first.width] };
    }
    case 'block': {
      const L = space.layers[seg.layer]!;
      return { input: [L.cin, L.height, L.width], output: [L.cout, L.outHeight, L.outWidth] };
    }
    case 'suffix':
      return { input: [space.head.cin, space.head.height, space.head.width], output: [space.classes] };
  }
}

function checkSegment(space: ResolvedSpace, seg: Segment): void {
  if (seg.kind === 'path') checkArch(space, seg.arch);
  if (seg.kind === 'block') {
    if (!Number.isInteger(seg.layer) || seg.layer < 0 || seg.layer >= space.layers.length) {
      throw new ArchError(`segment.layer: expected an integer in [0, ${space.layers.length - 1}], got ${describe(seg.layer)}`);
    }
    if (!Number.isInteger(seg.choice) || seg.choice < 0 || seg.choice >= space.opNames.length) {
      throw new ArchError(`segment.choice: expected an integer in [0, ${space.opNames.length - 1}], got ${describe(seg.choice)}`);
    }
  }
}

/** Builds the ONNX model of a segment (a whole path by default usage: `{kind: 'path', arch}`). */
export function buildSegmentModel(space: ResolvedSpace, seg: Segment, source: TensorSource, opts: ExportOptions = {}): ModelProto {
  checkSegment(space, seg);
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new Error(`opset: expected an integer in [13, 21], got ${describe(opts.opset)}`);
  const b = new GraphBuilder(space, source, opts.foldBn ?? true);
  const shapes = segmentShapes(space, seg);
  let x: string = INPUT_NAME;
  let outName = 'features';
  switch (seg.kind) {
    case 'path':
      x = b.prefix(x);
      seg.arch.forEach((j, l) => {
        x = b.block(x, l, j);
      });
      x = b.suffix(x);
      outName = OUTPUT_NAME;
      break;
    case 'prefix':
      x = b.prefix(x);
      break;
    case 'block':
      x = b.block(x, seg.layer, seg.choice);
      break;
    case 'suffix':
      x = b.suffix(x);
      outName = OUTPUT_NAME;
      break;
  }
  b.output(x, outName);

  const segName = seg.kind === 'path' ? archKey(seg.arch) : seg.kind === 'block' ? `layer${seg.layer}-${space.opNames[seg.choice]}` : seg.kind;
  const graph = create(GraphProtoSchema, {
    name: opts.graphName ?? `${space.name}-${segName}`,
    node: b.nodes,
    initializer: b.initializers,
    input: [valueInfo(INPUT_NAME, [BATCH_DIM, ...shapes.input])],
    output: [valueInfo(outName, [BATCH_DIM, ...shapes.output])],
  });

  const meta: Record<string, string> = {
    space: space.name,
    segment: seg.kind,
    input_layout: 'NCHW float32, already normalised: (pixel / 255 - mean[c]) / std[c]',
    normalization: JSON.stringify(space.normalization),
    bn: (opts.foldBn ?? true) ? 'folded into conv' : 'BatchNormalization nodes (running statistics)',
    producer: `greedynas ${producerVersion()}`,
  };
  if (seg.kind === 'path') {
    meta.arch = archKey(seg.arch);
    meta.ops = seg.arch.map((j) => space.opNames[j]!).join(',');
  }
  if (seg.kind === 'block') {
    meta.layer = String(seg.layer);
    meta.op = space.opNames[seg.choice]!;
  }
  if (seg.kind === 'path') {
    // FLOPs = multiply-adds of convs, SE and fc; params = trained tensors (BN running stats excluded)
    meta.flops = String(opts.flops ?? archFlops(space, seg.arch));
    meta.params = String(opts.params ?? archParams(space, seg.arch));
  } else {
    if (opts.flops !== undefined) meta.flops = String(opts.flops);
    if (opts.params !== undefined) meta.params = String(opts.params);
  }
  Object.assign(meta, opts.metadata ?? {});

  return create(ModelProtoSchema, {
    irVersion: irVersionFor(opset),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    producerName: 'greedynas',
    producerVersion: producerVersion(),
    docString: `GreedyNAS path of space '${space.name}'. Input '${INPUT_NAME}': ${meta.input_layout}. Output '${outName}'.`,
    graph,
    metadataProps: Object.entries(meta).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
}

/**
 * A model that only copies its input [batch, ...dims] to its output: what one session run costs
 * with no compute (call overhead and the output copy), for the latency table.
 */
export function buildIdentityModel(dims: readonly number[], opset = DEFAULT_OPSET): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: 'identity',
    node: [create(NodeProtoSchema, { opType: 'Identity', input: [INPUT_NAME], output: ['features'], name: 'identity' })],
    input: [valueInfo(INPUT_NAME, [BATCH_DIM, ...dims])],
    output: [valueInfo('features', [BATCH_DIM, ...dims])],
  });
  return create(ModelProtoSchema, {
    irVersion: irVersionFor(opset),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    producerName: 'greedynas',
    producerVersion: producerVersion(),
    graph,
  });
}

/** Builds the ONNX model of a path. */
export function buildOnnxModel(space: ResolvedSpace, arch: Arch, source: TensorSource, opts: ExportOptions = {}): ModelProto {
  return buildSegmentModel(space, { kind: 'path', arch }, source, opts);
}

export function serializeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

export function parseModel(bytes: Uint8Array): ModelProto {
  return fromBinary(ModelProtoSchema, bytes);
}

/** The metadata_props of a model as a plain object. */
export function modelMetadata(model: ModelProto): Record<string, string> {
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}

/** Serialised ONNX bytes of a path. */
export function exportOnnx(space: ResolvedSpace, arch: Arch, source: TensorSource, opts: ExportOptions = {}): Uint8Array {
  return serializeModel(buildOnnxModel(space, arch, source, opts));
}

export interface ExportResult {
  path: string;
  bytes: number;
  nodes: number;
  /** Node count per op type. */
  opCounts: Record<string, number>;
  metadata: Record<string, string>;
}

export function opCounts(model: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph?.node ?? []) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

/** Writes the ONNX model of a path to `path` (parent folders created); errors name the path. */
export async function writeOnnx(path: string, space: ResolvedSpace, arch: Arch, source: TensorSource, opts: ExportOptions = {}): Promise<ExportResult> {
  const model = buildOnnxModel(space, arch, source, opts);
  const bytes = serializeModel(model);
  await writeBytes(path, bytes, 'ONNX model');
  return { path, bytes: bytes.length, nodes: model.graph?.node.length ?? 0, opCounts: opCounts(model), metadata: modelMetadata(model) };
}

/** Writes a file, creating its folder; a failure names the file and the reason. */
export async function writeBytes(path: string, data: Uint8Array | string, what: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${what} to '${path}': ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim(), { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Random weights (latency measurement, tests).

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A tensor source of random weights, deterministic per (seed, tensor name): He-uniform conv and fc
 * weights (fan-in from the shape), BN gamma in [0.5, 1.5], beta and running mean in [-0.2, 0.2],
 * running variance in [0.5, 1.5], biases in [-0.1, 0.1]. Activations stay O(1) through a path.
 */
export function randomTensorSource(seed = 0): TensorSource {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: expected a non-negative integer, got ${seed}`);
  return (name, shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const rng = new Rng(seed, hashName(name)); // the stream of (seed, tensor name): all of the seed counts
    const uni = (lo: number, hi: number): Float32Array => Float32Array.from({ length: size }, () => lo + (hi - lo) * rng.float());
    if (name.endsWith('.bn.weight') || name.endsWith('.bn.running_var')) return uni(0.5, 1.5);
    if (name.endsWith('.bn.bias') || name.endsWith('.bn.running_mean')) return uni(-0.2, 0.2);
    if (name.endsWith('.bias')) return uni(-0.1, 0.1);
    // weights: fan-in is everything but the output dim; a depthwise [k][k][C] has fan-in k*k
    const fanIn = name.endsWith('.dw.conv.weight') ? size / shape[shape.length - 1]! : size / shape[0]!;
    const a = Math.sqrt(6 / fanIn);
    return uni(-a, a);
  };
}
