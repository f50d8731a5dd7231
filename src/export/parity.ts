// Parity of an exported ONNX model with the engine: the same images go through onnxruntime-node
// (CPU provider) and through the supernet engine's eval-mode forward (running BN statistics); the
// logits must agree to 1e-4 relative. A `<model>.check.json` beside the model then holds two
// inputs exactly as the ONNX graph takes them (normalised, NCHW) with the engine's logits for them,
// so any other runtime can verify the file (verifyCheckFile does it with onnxruntime).
//
// Relative difference here means max_i |onnx_i - engine_i| / max_i |engine_i| (scale-relative:
// logits near zero do not blow it up).
//
// onnxruntime-node is an optional dependency, loaded on first use (src/util/onnxruntime.ts): a
// missing package fails here with a message naming it and the fix, not when greedynas is imported.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { archKey, type Arch, type ResolvedSpace } from '../space/types.js';
import { loadOnnxRuntime, type OrtSession } from '../util/onnxruntime.js';
import { checkArch, writeBytes, INPUT_NAME, OUTPUT_NAME } from './onnx.js';

/** The part of the engine (src/native/engine.ts, class Supernet) that parity needs. */
export interface ParityEngine {
  readonly space: ResolvedSpace;
  /** NHWC images (uint8 0..255 or float32 in [0,1]) -> NHWC normalised floats, as the engine sees them. */
  normalize(images: Uint8Array | Float32Array): Float32Array;
  /** Eval-mode logits, N x classes. */
  predict(arch: Arch, images: Uint8Array | Float32Array, opts: { bn: 'running' }): Promise<Float32Array>;
}

export interface ParityOptions {
  /** Largest accepted relative difference (default 1e-4). */
  tolerance?: number;
  /** Where to write the check file; default `<model path without .onnx>.check.json`; false: none. */
  checkFile?: string | false;
  /** Images kept in the check file (default 2). */
  checkCount?: number;
  /** onnxruntime intra-op threads (default 1: deterministic summation order). */
  threads?: number;
  /**
   * The key the report and check file name (default archKey(arch)): the searched path when the
   * engine holds a retrained, one-op-per-layer network whose own path is 0-0-0-...
   */
  archKey?: string;
}

export interface DiffStats {
  maxAbsDiff: number;
  /** maxAbsDiff / max |reference|. */
  maxRelDiff: number;
  /** max |reference|. */
  refScale: number;
  /** Share of rows whose argmax agrees. */
  argmaxAgreement: number;
}

export interface ParityReport extends DiffStats {
  model: string;
  arch: string;
  batch: number;
  tolerance: number;
  passed: boolean;
  checkFile?: string;
}

export class ParityError extends Error {
  constructor(
    message: string,
    readonly report: ParityReport,
  ) {
    super(message);
    this.name = 'ParityError';
  }
}

export const CHECK_FORMAT = 'greedynas-onnx-check/1';

export interface CheckFile {
  format: typeof CHECK_FORMAT;
  model: string;
  space: string;
  arch: string;
  note: string;
  input: { name: string; layout: 'NCHW'; normalized: true; shape: number[]; data: number[] };
  output: { name: string; shape: number[]; data: number[] };
  tolerance: { relative: number; definition: string };
}

/** NHWC -> NCHW. */
export function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  if (x.length !== n * h * w * c) throw new Error(`nhwcToNchw: ${x.length} values, expected ${n}x${h}x${w}x${c}`);
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const src = ((b * h + y) * w + xx) * c;
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + xx] = x[src + ch]!;
      }
    }
  }
  return out;
}

export function diffStats(got: ArrayLike<number>, ref: ArrayLike<number>, classes: number): DiffStats {
  if (got.length !== ref.length) throw new Error(`diffStats: ${got.length} values against ${ref.length}`);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  const rows = ref.length / classes;
  let agree = 0;
  for (let r = 0; r < rows; r++) {
    let ga = 0;
    let ra = 0;
    for (let k = 1; k < classes; k++) {
      if (got[r * classes + k]! > got[r * classes + ga]!) ga = k;
      if (ref[r * classes + k]! > ref[r * classes + ra]!) ra = k;
    }
    if (ga === ra) agree++;
  }
  return { maxAbsDiff: maxAbs, maxRelDiff: maxAbs / Math.max(scale, Number.MIN_VALUE), refScale: scale, argmaxAgreement: rows > 0 ? agree / rows : 1 };
}

export async function openSession(modelPath: string | Uint8Array, threads = 1): Promise<OrtSession> {
  const { InferenceSession } = await loadOnnxRuntime('the ONNX parity check');
  try {
    return await InferenceSession.create(modelPath as string, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
  } catch (e) {
    const where = typeof modelPath === 'string' ? `'${modelPath}'` : 'model bytes';
    throw new Error(`onnxruntime cannot load ${where}: ${(e as Error).message}`, { cause: e });
  }
}

/** Runs an NCHW float batch through a session; returns the first output's values. */
export async function runNchw(session: OrtSession, x: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const { Tensor } = await loadOnnxRuntime('the ONNX parity check');
  const out = await session.run({ [INPUT_NAME]: new Tensor('float32', x, [...dims]) });
  const t = out[OUTPUT_NAME] ?? out[session.outputNames[0]!];
  if (!t) throw new Error('onnxruntime returned no output');
  return t.data as Float32Array;
}

/**
 * Compares the ONNX model at `modelPath` with the engine's eval-mode forward of `arch` on `images`
 * (NHWC, uint8 or float32 in [0,1], at least 1 image), writes the check file, and throws
 * ParityError when the relative difference exceeds the tolerance.
 */
export async function checkParity(
  modelPath: string,
  engine: ParityEngine,
  arch: Arch,
  images: Uint8Array | Float32Array,
  opts: ParityOptions = {},
): Promise<ParityReport> {
  const space = engine.space;
  checkArch(space, arch);
  const { height: H, width: W, channels: C } = space.input;
  const per = H * W * C;
  if (images.length === 0 || images.length % per !== 0) {
    throw new Error(`images: expected N x ${H} x ${W} x ${C} values (NHWC) with N >= 1, got ${images.length}`);
  }
  const n = images.length / per;
  const tolerance = opts.tolerance ?? 1e-4;

  const normalized = engine.normalize(images);
  const x = nhwcToNchw(normalized, n, H, W, C);
  const session = await openSession(modelPath, opts.threads ?? 1);
  let got: Float32Array;
  try {
    got = await runNchw(session, x, [n, C, H, W]);
  } finally {
    await session.release();
  }
  const ref = await engine.predict(arch, images, { bn: 'running' });
  if (ref.length !== n * space.classes) throw new Error(`engine.predict returned ${ref.length} logits, expected ${n} x ${space.classes}`);
  const stats = diffStats(got, ref, space.classes);
  const label = opts.archKey ?? archKey(arch);
  const report: ParityReport = { model: modelPath, arch: label, batch: n, tolerance, ...stats, passed: stats.maxRelDiff <= tolerance };
  if (!report.passed) {
    throw new ParityError(
      `ONNX model '${modelPath}' differs from the engine: max rel diff ${stats.maxRelDiff.toExponential(3)} > ${tolerance} (max abs ${stats.maxAbsDiff.toExponential(3)}, |logit| up to ${stats.refScale.toPrecision(4)})`,
      report,
    );
  }
  if (opts.checkFile !== false) {
    const k = Math.min(opts.checkCount ?? 2, n);
    const checkPath = opts.checkFile ?? defaultCheckPath(modelPath);
    await writeCheckFile(checkPath, {
      model: basename(modelPath),
      space: space.name,
      arch: label,
      inputNchw: x.subarray(0, k * C * H * W),
      inputDims: [k, C, H, W],
      logits: ref.subarray(0, k * space.classes),
      classes: space.classes,
      tolerance,
    });
    report.checkFile = checkPath;
  }
  return report;
}

export function defaultCheckPath(modelPath: string): string {
  return `${modelPath.replace(/\.onnx$/i, '')}.check.json`;
}

export async function writeCheckFile(
  path: string,
  c: { model: string; space: string; arch: string; inputNchw: Float32Array; inputDims: number[]; logits: Float32Array; classes: number; tolerance: number },
): Promise<void> {
  const file: CheckFile = {
    format: CHECK_FORMAT,
    model: c.model,
    space: c.space,
    arch: c.arch,
    note: 'input is what the ONNX graph takes: images normalised per channel ((pixel/255 - mean)/std), NCHW float32; output holds the engine logits (eval mode, running BN statistics)',
    input: { name: INPUT_NAME, layout: 'NCHW', normalized: true, shape: c.inputDims, data: Array.from(c.inputNchw) },
    output: { name: OUTPUT_NAME, shape: [c.inputDims[0]!, c.classes], data: Array.from(c.logits) },
    tolerance: { relative: c.tolerance, definition: 'max |got - expected| / max |expected|' },
  };
  await writeBytes(path, `${JSON.stringify(file)}\n`, 'parity check file');
}

/** Runs a model on the inputs of its check file and compares with the stored logits. */
export async function verifyCheckFile(modelPath: string, checkPath = defaultCheckPath(modelPath)): Promise<DiffStats & { passed: boolean; tolerance: number }> {
  const file = JSON.parse(await readFile(checkPath, 'utf8')) as CheckFile;
  if (file.format !== CHECK_FORMAT) throw new Error(`${checkPath}: not a ${CHECK_FORMAT} file (format ${JSON.stringify(file.format)})`);
  const session = await openSession(modelPath, 1);
  try {
    const got = await runNchw(session, Float32Array.from(file.input.data), file.input.shape);
    const stats = diffStats(got, file.output.data, file.output.shape[1]!);
    return { ...stats, tolerance: file.tolerance.relative, passed: stats.maxRelDiff <= file.tolerance.relative };
  } finally {
    await session.release();
  }
}

export function formatParity(r: ParityReport): string {
  return [
    `parity ${r.passed ? 'OK' : 'FAILED'}: ${r.model} (arch ${r.arch}, ${r.batch} images)`,
    `  max abs diff ${r.maxAbsDiff.toExponential(3)}, max rel diff ${r.maxRelDiff.toExponential(3)} (tolerance ${r.tolerance}), |logit| up to ${r.refScale.toPrecision(4)}, argmax agreement ${(100 * r.argmaxAgreement).toFixed(1)}%`,
    ...(r.checkFile ? [`  check file: ${r.checkFile}`] : []),
  ].join('\n');
}
