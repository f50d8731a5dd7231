// onnxruntime-node, loaded on first use. It is an optional dependency (about 290 MB installed, and
// on linux-x64 its install script downloads the CUDA provider unless ONNXRUNTIME_NODE_INSTALL=skip):
// only the ONNX parity check, latency profiling and the latency table (--latency-max) run models,
// so training, search, retraining, export without parity and the library API work without it.
// Nothing in this package imports it statically; every use goes through loadOnnxRuntime(), which
// names the package, what needed it and how to install it when it is absent.
import { createRequire } from 'node:module';

// The part of onnxruntime-node's API that greedynas uses, declared here rather than imported from
// its typings: greedynas's own declaration files then never name the package, so a TypeScript
// project type-checks against greedynas whether or not the optional package is installed.

/** A tensor of onnxruntime (onnxruntime-node's Tensor). */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** Input or output metadata of a session; only tensors have a shape (symbolic dimensions are strings). */
export type OrtValueMetadata = { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: ReadonlyArray<number | string> } | { readonly name: string; readonly isTensor: false };

/** An inference session (onnxruntime-node's InferenceSession). */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtValueMetadata[];
  readonly outputMetadata: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** Session options greedynas sets (a subset of onnxruntime's InferenceSession.SessionOptions). */
export interface OrtSessionOptions {
  executionProviders?: string[];
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** The onnxruntime-node module, as far as greedynas uses it. */
export interface OnnxRuntime {
  InferenceSession: { create(model: string | Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  listSupportedBackends(): Array<{ name: string; bundled: boolean }>;
}

/** onnxruntime-node is not installed, or is installed but cannot load on this machine. */
export class MissingDependencyError extends Error {
  readonly code = 'GNAS_MISSING_DEPENDENCY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MissingDependencyError';
  }
}

/** The package the loader imports; a test may point it elsewhere to act out its absence. */
export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';

/** How to get it, for every message that says it is missing. */
export const ONNXRUNTIME_FIX =
  'install it beside greedynas with `npm install onnxruntime-node` (on Linux x64 set ONNXRUNTIME_NODE_INSTALL=skip first unless you want its CUDA provider downloaded)';

let loaded: OnnxRuntime | null = null;
let loading: Promise<OnnxRuntime> | null = null;

function isNotFound(e: unknown, specifier: string): boolean {
  const err = e as { code?: string; message?: string };
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message ?? '').includes(specifier);
}

async function importOnnxRuntime(purpose: string, specifier: string): Promise<OnnxRuntime> {
  try {
    const mod = (await import(specifier)) as Partial<OnnxRuntime> & { default?: OnnxRuntime };
    // A CommonJS package: the named exports are detected statically, `default` is module.exports.
    const ort = (mod.InferenceSession !== undefined ? mod : (mod.default ?? mod)) as OnnxRuntime;
    if (typeof ort.InferenceSession?.create !== 'function' || typeof ort.Tensor !== 'function') throw new Error('the module has no InferenceSession.create or Tensor');
    return ort;
  } catch (e) {
    if (isNotFound(e, specifier)) {
      throw new MissingDependencyError(`${purpose} needs the optional package ${specifier}, which is not installed: ${ONNXRUNTIME_FIX}`, { cause: e });
    }
    throw new MissingDependencyError(
      `${purpose} needs the optional package ${specifier}, which is installed but does not load here (${String((e as Error)?.message ?? e).split('\n')[0]}): reinstall it with \`npm install onnxruntime-node\``,
      { cause: e },
    );
  }
}

/**
 * onnxruntime-node, imported once. `purpose` says what needs it (e.g. "the ONNX parity check"); it
 * leads the error message when the package is missing or fails to load. `specifier` is for tests.
 */
export async function loadOnnxRuntime(purpose: string, specifier: string = ONNXRUNTIME_PACKAGE): Promise<OnnxRuntime> {
  if (specifier !== ONNXRUNTIME_PACKAGE) return importOnnxRuntime(purpose, specifier);
  if (loaded !== null) return loaded;
  loading ??= importOnnxRuntime(purpose, specifier).then(
    (m) => (loaded = m),
    (e: unknown) => {
      loading = null; // a later call may find it (installed meanwhile)
      throw e;
    },
  );
  return loading;
}

/** The module if loadOnnxRuntime() has already succeeded, else null (for synchronous helpers). */
export function onnxRuntimeIfLoaded(): OnnxRuntime | null {
  return loaded;
}

/** The installed onnxruntime-node version, read from its package.json without loading it; null when absent. */
export function onnxRuntimeVersion(): string | null {
  try {
    const file = createRequire(import.meta.url).resolve(`${ONNXRUNTIME_PACKAGE}/package.json`);
    return (createRequire(import.meta.url)(file) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}
