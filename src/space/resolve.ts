// Validation of a space file and resolution into full geometry (ResolvedSpace). Errors name the
// offending field ("space.stages[2].stride: expected 1 or 2, got 3").
import type { Activation, ResolvedLayer, ResolvedOp, ResolvedSpace, SpaceFile } from './types.js';

export class SpaceError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'SpaceError';
  }
}

const ACTIVATIONS: readonly Activation[] = ['relu', 'relu6', 'hswish'];
const OP_PATTERN = /^k(\d+)e(\d+)(_se)?$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rejects keys that are not in `allowed` (a misspelt optional field would otherwise be ignored). */
function knownKeys(obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new SpaceError(`${field}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
}

const TOP_LEVEL_KEYS = ['name', 'description', 'comment', 'input', 'classes', 'activation', 'stem', 'fixedBlocks', 'stages', 'ops', 'head', 'bn', 'seRatio', 'normalization'] as const;

function positiveInt(v: unknown, field: string, max = 1 << 20): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new SpaceError(field, `expected an integer in [1, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function stride(v: unknown, field: string): number {
  if (v !== 1 && v !== 2) throw new SpaceError(field, `expected 1 or 2, got ${JSON.stringify(v)}`);
  return v;
}

function kernel(v: unknown, field: string): number {
  if (v !== 1 && v !== 3 && v !== 5 && v !== 7) throw new SpaceError(field, `expected 1, 3, 5 or 7, got ${JSON.stringify(v)}`);
  return v;
}

function outSize(size: number, k: number, s: number): number {
  const pad = Math.floor(k / 2);
  return Math.floor((size + 2 * pad - k) / s) + 1;
}

function resolveOp(name: string, cin: number, cout: number, s: number, seRatio: number, field: string): ResolvedOp {
  if (name === 'id') {
    const skip = s === 1 && cin === cout;
    return { name, kind: skip ? 'skip' : 'conv1x1', kernel: 1, expansion: 0, se: false, mid: 0, seWidth: 0 };
  }
  const m = OP_PATTERN.exec(name);
  if (!m) throw new SpaceError(field, `unknown op '${name}' (expected "k<kernel>e<expansion>", optionally with "_se", or "id")`);
  const k = Number(m[1]);
  const e = Number(m[2]);
  if (k !== 3 && k !== 5 && k !== 7) throw new SpaceError(field, `op '${name}': kernel must be 3, 5 or 7`);
  if (e < 1 || e > 8) throw new SpaceError(field, `op '${name}': expansion must be in [1, 8]`);
  const se = m[3] !== undefined;
  const mid = cin * e;
  return { name, kind: 'mbconv', kernel: k, expansion: e, se, mid, seWidth: se ? Math.max(1, Math.floor(mid * seRatio)) : 0 };
}

function fixedOpName(k: number, e: number, se: boolean): string {
  return `k${k}e${e}${se ? '_se' : ''}`;
}

/** Checks a parsed space file and returns its resolved geometry; throws SpaceError naming the field. */
export function resolveSpace(raw: unknown): ResolvedSpace {
  if (!isObject(raw)) throw new SpaceError('space', 'expected a JSON object');
  const sp = raw as Partial<SpaceFile> & Record<string, unknown>;
  knownKeys(sp, TOP_LEVEL_KEYS, 'space');
  if (sp.name !== undefined && (typeof sp.name !== 'string' || sp.name.length === 0)) {
    throw new SpaceError('space.name', `expected a non-empty string, got ${JSON.stringify(sp.name)}`);
  }
  const name = sp.name ?? 'custom';
  for (const key of ['description', 'comment'] as const) {
    if (sp[key] !== undefined && typeof sp[key] !== 'string') throw new SpaceError(`space.${key}`, `expected a string, got ${JSON.stringify(sp[key])}`);
  }

  if (!isObject(sp.input)) throw new SpaceError('space.input', 'expected {height, width, channels}');
  knownKeys(sp.input, ['height', 'width', 'channels'], 'space.input');
  const input = {
    height: positiveInt(sp.input.height, 'space.input.height', 4096),
    width: positiveInt(sp.input.width, 'space.input.width', 4096),
    channels: positiveInt(sp.input.channels, 'space.input.channels', 64),
  };
  const classes = positiveInt(sp.classes, 'space.classes', 1 << 16);
  if (classes < 2) throw new SpaceError('space.classes', `expected at least 2 classes, got ${classes}`);
  const activation = sp.activation ?? 'relu6';
  if (!ACTIVATIONS.includes(activation)) {
    throw new SpaceError('space.activation', `expected one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(activation)}`);
  }
  const seRatio = sp.seRatio ?? 0.25;
  if (typeof seRatio !== 'number' || !(seRatio > 0 && seRatio <= 1)) throw new SpaceError('space.seRatio', `expected a number in (0, 1], got ${JSON.stringify(seRatio)}`);

  if (sp.bn !== undefined) {
    if (!isObject(sp.bn)) throw new SpaceError('space.bn', 'expected {eps?, momentum?}');
    knownKeys(sp.bn, ['eps', 'momentum'], 'space.bn');
  }
  const bnEps = sp.bn?.eps ?? 1e-5;
  const bnMomentum = sp.bn?.momentum ?? 0.1;
  if (typeof bnEps !== 'number' || !(bnEps > 0 && bnEps < 1)) throw new SpaceError('space.bn.eps', `expected a number in (0, 1), got ${JSON.stringify(bnEps)}`);
  if (typeof bnMomentum !== 'number' || !(bnMomentum > 0 && bnMomentum <= 1)) throw new SpaceError('space.bn.momentum', `expected a number in (0, 1], got ${JSON.stringify(bnMomentum)}`);

  if (sp.normalization !== undefined) {
    if (!isObject(sp.normalization)) throw new SpaceError('space.normalization', 'expected {mean, std}');
    knownKeys(sp.normalization, ['mean', 'std'], 'space.normalization');
  }
  const norm = sp.normalization ?? {
    mean: new Array<number>(input.channels).fill(0.5),
    std: new Array<number>(input.channels).fill(0.25),
  };
  for (const key of ['mean', 'std'] as const) {
    const arr = (norm as Record<string, unknown>)[key];
    if (!Array.isArray(arr) || arr.length !== input.channels || !arr.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new SpaceError(`space.normalization.${key}`, `expected ${input.channels} finite numbers (one per input channel)`);
    }
    if (key === 'std' && !arr.every((v: number) => v > 0)) throw new SpaceError('space.normalization.std', 'every std must be > 0');
  }

  if (!isObject(sp.stem)) throw new SpaceError('space.stem', 'expected {width, stride, kernel?}');
  knownKeys(sp.stem, ['width', 'stride', 'kernel'], 'space.stem');
  const stemK = kernel(sp.stem.kernel ?? 3, 'space.stem.kernel');
  const stemS = stride(sp.stem.stride, 'space.stem.stride');
  const stemCout = positiveInt(sp.stem.width, 'space.stem.width', 8192);
  const stem = {
    cin: input.channels,
    cout: stemCout,
    kernel: stemK,
    stride: stemS,
    height: input.height,
    width: input.width,
    outHeight: outSize(input.height, stemK, stemS),
    outWidth: outSize(input.width, stemK, stemS),
  };

  let c = stem.cout;
  let h = stem.outHeight;
  let w = stem.outWidth;

  const fixedRaw = sp.fixedBlocks ?? [];
  if (!Array.isArray(fixedRaw)) throw new SpaceError('space.fixedBlocks', 'expected an array');
  const fixed: ResolvedLayer[] = fixedRaw.map((b, i) => {
    const f = `space.fixedBlocks[${i}]`;
    if (!isObject(b)) throw new SpaceError(f, 'expected {kernel, expansion, width, stride, se?}');
    knownKeys(b, ['kernel', 'expansion', 'width', 'stride', 'se'], f);
    if (b.se !== undefined && typeof b.se !== 'boolean') throw new SpaceError(`${f}.se`, `expected true or false, got ${JSON.stringify(b.se)}`);
    const k = kernel(b.kernel, `${f}.kernel`);
    if (k === 1) throw new SpaceError(`${f}.kernel`, 'expected 3, 5 or 7');
    const e = positiveInt(b.expansion, `${f}.expansion`, 8);
    const cout = positiveInt(b.width, `${f}.width`, 8192);
    const s = stride(b.stride, `${f}.stride`);
    const op = resolveOp(fixedOpName(k, e, b.se === true), c, cout, s, seRatio, f);
    const layer: ResolvedLayer = { cin: c, cout, stride: s, height: h, width: w, outHeight: outSize(h, 3, s), outWidth: outSize(w, 3, s), ops: [op] };
    c = cout;
    h = layer.outHeight;
    w = layer.outWidth;
    return layer;
  });

  if (!Array.isArray(sp.ops) || sp.ops.length === 0) throw new SpaceError('space.ops', 'expected a non-empty array of op names');
  const opNames = sp.ops.map((o, i) => {
    if (typeof o !== 'string') throw new SpaceError(`space.ops[${i}]`, `expected a string, got ${JSON.stringify(o)}`);
    return o;
  });
  if (new Set(opNames).size !== opNames.length) throw new SpaceError('space.ops', 'op names must be unique');

  if (!Array.isArray(sp.stages) || sp.stages.length === 0) throw new SpaceError('space.stages', 'expected a non-empty array of {width, layers, stride}');
  const layers: ResolvedLayer[] = [];
  sp.stages.forEach((st, i) => {
    const f = `space.stages[${i}]`;
    if (!isObject(st)) throw new SpaceError(f, 'expected {width, layers, stride}');
    knownKeys(st, ['width', 'layers', 'stride'], f);
    const cout = positiveInt(st.width, `${f}.width`, 8192);
    const n = positiveInt(st.layers, `${f}.layers`, 64);
    const s0 = stride(st.stride, `${f}.stride`);
    for (let j = 0; j < n; j++) {
      const s = j === 0 ? s0 : 1;
      const ops = opNames.map((o, oi) => resolveOp(o, c, cout, s, seRatio, `space.ops[${oi}]`));
      for (const op of ops) {
        if (op.kind === 'mbconv' && op.kernel > h + 2 * Math.floor(op.kernel / 2)) throw new SpaceError(f, `feature map ${h}x${w} too small for op ${op.name}`);
      }
      const layer: ResolvedLayer = { cin: c, cout, stride: s, height: h, width: w, outHeight: outSize(h, 3, s), outWidth: outSize(w, 3, s), ops };
      layers.push(layer);
      c = cout;
      h = layer.outHeight;
      w = layer.outWidth;
    }
  });
  if (layers.length === 0) throw new SpaceError('space.stages', 'the space has no searchable layers');

  if (!isObject(sp.head)) throw new SpaceError('space.head', 'expected {width}');
  knownKeys(sp.head, ['width'], 'space.head');
  const headCout = positiveInt(sp.head.width, 'space.head.width', 16384);
  return {
    name,
    input,
    classes,
    activation,
    bnEps,
    bnMomentum,
    normalization: { mean: [...norm.mean], std: [...norm.std] },
    stem,
    fixed,
    layers,
    opNames,
    head: { cin: c, cout: headCout, height: h, width: w },
    fc: { cin: headCout, classes },
  };
}
