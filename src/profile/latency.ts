// Measured inference latency of an ONNX model with onnxruntime-node: for each (batch size,
// intra-op threads) the model runs `warmup` times untimed, then `runs` times timed one by one,
// spread over a few rounds that visit every configuration in turn;
// the report gives mean, median, p90, p99 (and min, max, std) in milliseconds and throughput at
// the median. Medians and tails, not means, are the numbers to quote: on a shared machine (this
// project's build hosts have 2 cores used by several people) single runs are often delayed.
//
// The execution provider is named in the report. Only the CPU provider ships with this project's
// install (.npmrc: onnxruntime-node-install=skip); asking for 'cuda' where its provider library
// is absent throws an Error that says so. onnxruntime-node itself is an optional dependency,
// loaded on first use (src/util/onnxruntime.ts).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, availableParallelism, cpus, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { Rng } from '../util/rng.js';
import { BATCH_DIM, INPUT_NAME } from '../export/onnx.js';
import { loadOnnxRuntime, onnxRuntimeVersion, type OrtSession, type OrtSessionOptions, type OrtTensor } from '../util/onnxruntime.js';

const PURPOSE = 'latency profiling';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface ProfileOptions {
  /** Batch sizes to measure (default [1, 32]). */
  batchSizes?: number[];
  /** Intra-op thread counts (default [1, all cores]). */
  threads?: number[];
  /** Untimed runs before timing, per configuration (default 10). */
  warmup?: number;
  /** Timed runs per configuration (default 100), spread over `rounds`. */
  runs?: number;
  /**
   * Rounds the timed runs are spread over (default 5): each round times every configuration in
   * turn, so that a burst of load from other processes hits all configurations alike.
   */
  rounds?: number;
  /** Execution provider (default 'cpu'). */
  provider?: ExecutionProvider;
  /** Seed of the random (standard normal) input. */
  seed?: number;
}

export interface LatencyStats {
  batch: number;
  threads: number;
  runs: number;
  meanMs: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  stdMs: number;
  /** batch / median. */
  imagesPerSecond: number;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  platform: string;
  node: string;
  onnxruntime: string;
}

export interface ProfileReport {
  model: string;
  provider: ExecutionProvider;
  machine: MachineInfo;
  /** Input shape of the model, batch dimension symbolic. */
  input: Array<number | string>;
  warmup: number;
  rounds: number;
  date: string;
  results: Array<LatencyStats & { cpuMedianMs: number }>;
  note: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown cpu',
    cores: availableParallelism(),
    platform: `${platform()} ${release()}`,
    node: process.version,
    // From its package.json: machineInfo() stays synchronous and loads nothing.
    onnxruntime: onnxRuntimeVersion() ?? 'not installed',
  };
}

/** Value at quantile q in [0, 1] of sorted values, linear between closest ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samplesMs: readonly number[], batch: number, threads: number): LatencyStats {
  const s = [...samplesMs].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  const median = quantile(s, 0.5);
  return {
    batch,
    threads,
    runs: n,
    meanMs: mean,
    medianMs: median,
    p90Ms: quantile(s, 0.9),
    p99Ms: quantile(s, 0.99),
    minMs: s[0]!,
    maxMs: s[n - 1]!,
    stdMs: std,
    imagesPerSecond: (batch * 1000) / median,
  };
}

function positiveInts(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isSafeInteger(x) && x >= 1)) {
    throw new RangeError(`${what}: expected a non-empty array of positive integers, got ${JSON.stringify(v)}`);
  }
  return [...new Set(v as number[])];
}

function count(v: unknown, what: string, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw new RangeError(`${what}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v as number;
}

/** Where onnxruntime-node keeps its CUDA provider library (undefined when that cannot be told). */
function cudaProviderLibrary(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    const file = platform() === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return join(dirname(pkg), 'bin', 'napi-v6', platform(), arch(), file);
  } catch {
    return undefined;
  }
}

/** Opens a session on the given provider; a missing provider gives an Error that says what to do. */
export async function createSession(model: string | Uint8Array, provider: ExecutionProvider, threads: number): Promise<OrtSession> {
  const { InferenceSession, listSupportedBackends } = await loadOnnxRuntime(PURPOSE);
  const options: OrtSessionOptions = {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
  };
  const where = typeof model === 'string' ? `'${model}'` : 'model bytes';
  if (provider === 'cuda') {
    const cuda = listSupportedBackends().find((b) => b.name === 'cuda');
    if (!cuda) throw new Error(`execution provider 'cuda' is not supported by this onnxruntime-node build on ${platform()}; use provider 'cpu'`);
    const lib = cudaProviderLibrary();
    if (!cuda.bundled && lib !== undefined && !existsSync(lib)) {
      throw new Error(
        `execution provider 'cuda' is not available here: its library ${lib} is not installed (this project installs onnxruntime-node ` +
          "with onnxruntime-node-install=skip, see .npmrc, which ships the CPU provider only). Profile with provider 'cpu', or reinstall " +
          'onnxruntime-node with its CUDA provider on a machine with an NVIDIA driver, CUDA 12 and cuDNN 9.',
      );
    }
  }
  try {
    return await InferenceSession.create(model as string, options);
  } catch (e) {
    const msg = (e as Error).message;
    if (provider === 'cuda' && /cuda|provider|shared librar/i.test(msg)) {
      throw new Error(
        "execution provider 'cuda' is not available here: onnxruntime-node was installed with onnxruntime-node-install=skip " +
          '(see .npmrc), which ships the CPU provider only, or no CUDA 12 / cuDNN 9 runtime and NVIDIA driver were found. ' +
          `Profile with provider 'cpu', or reinstall onnxruntime-node with its CUDA provider on a GPU machine. (onnxruntime: ${msg.split('\n')[0]})`,
        { cause: e },
      );
    }
    throw new Error(`onnxruntime cannot load ${where} on provider '${provider}': ${msg}`, { cause: e });
  }
}

export interface RunSamples {
  /** Wall-clock time of each run, ms. */
  wallMs: number[];
  /**
   * CPU time of the process during each run, ms (user + system, all threads). With one intra-op
   * thread the run executes on the calling thread, so this is its compute time whatever else the
   * machine runs: on a shared machine the wall time of a long run also holds the time the
   * scheduler gave to other processes.
   */
  cpuMs: number[];
}

/** Times `runs` single runs of a session on a fixed input after `warmup` untimed ones. */
export async function timeSession(session: OrtSession, feed: OrtTensor, warmup: number, runs: number): Promise<RunSamples> {
  const feeds = { [session.inputNames[0] ?? INPUT_NAME]: feed };
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const wallMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await session.run(feeds);
    wallMs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
  }
  return { wallMs, cpuMs };
}

/** A standard-normal float32 tensor of the given shape. */
export async function randomInput(dims: readonly number[], seed = 0): Promise<OrtTensor> {
  const { Tensor } = await loadOnnxRuntime(PURPOSE);
  const rng = new Rng(seed);
  const size = dims.reduce((a, b) => a * b, 1);
  return new Tensor('float32', Float32Array.from({ length: size }, () => rng.normal()), [...dims]);
}

/** Static input dims of a session with the batch dimension set to `batch`. */
export function inputDims(session: OrtSession, batch: number): number[] {
  const m = session.inputMetadata[0];
  if (!m || !m.isTensor) throw new Error('model input is not a tensor');
  return m.shape.map((d, i) => {
    if (typeof d === 'number' && d > 0) return i === 0 ? batch : d;
    if (i === 0) return batch;
    throw new Error(`model input dimension ${i} is symbolic (${String(d)}); only the batch dimension may be`);
  });
}

/** Measures a model's latency at each batch size and thread count. */
export async function profile(modelPath: string, opts: ProfileOptions = {}): Promise<ProfileReport> {
  const provider = opts.provider ?? 'cpu';
  if (provider !== 'cpu' && provider !== 'cuda') throw new RangeError(`provider: expected 'cpu' or 'cuda', got ${JSON.stringify(provider)}`);
  const batchSizes = positiveInts(opts.batchSizes ?? [1, 32], 'batchSizes');
  const threads = positiveInts(opts.threads ?? [1, availableParallelism()], 'threads');
  const warmup = count(opts.warmup ?? 10, 'warmup', 0);
  const runs = count(opts.runs ?? 100, 'runs', 1);

  const rounds = Math.min(count(opts.rounds ?? 5, 'rounds', 1), runs);

  let input: Array<number | string> = [];
  const sessions: OrtSession[] = [];
  const configs: Array<{ session: OrtSession; feed: OrtTensor; batch: number; threads: number; wall: number[]; cpu: number[] }> = [];
  try {
    for (const t of threads) {
      const session = await createSession(modelPath, provider, t);
      sessions.push(session);
      const m = session.inputMetadata[0];
      if (m?.isTensor) input = m.shape.map((d, i) => (i === 0 && typeof d !== 'number' ? BATCH_DIM : d));
      for (const b of batchSizes) configs.push({ session, feed: await randomInput(inputDims(session, b), opts.seed ?? 0), batch: b, threads: t, wall: [], cpu: [] });
    }
    for (let r = 0; r < rounds; r++) {
      const n = Math.floor(((r + 1) * runs) / rounds) - Math.floor((r * runs) / rounds);
      for (const c of configs) {
        const t = await timeSession(c.session, c.feed, r === 0 ? warmup : 1, n);
        c.wall.push(...t.wallMs);
        c.cpu.push(...t.cpuMs);
      }
    }
  } finally {
    for (const s of sessions) await s.release();
  }
  const results = configs.map((c) => ({ ...summarize(c.wall, c.batch, c.threads), cpuMedianMs: quantile([...c.cpu].sort((a, b) => a - b), 0.5) }));
  return {
    model: modelPath,
    provider,
    machine: machineInfo(),
    input,
    warmup,
    rounds,
    date: new Date().toISOString(),
    results,
    note:
      'wall-clock time of session.run per batch (input already normalised, NCHW float32); quote medians: on shared machines single runs are often delayed. ' +
      'cpuMedianMs: median process CPU time per run (all threads); wall time well above cpuMedianMs / threads means other processes took the cores',
  };
}

export function formatProfile(r: ProfileReport): string {
  const head = ['batch', 'threads', 'median ms', 'mean ms', 'p90 ms', 'p99 ms', 'min ms', 'cpu ms', 'img/s'];
  const rows = r.results.map((s) => [
    String(s.batch),
    String(s.threads),
    s.medianMs.toFixed(3),
    s.meanMs.toFixed(3),
    s.p90Ms.toFixed(3),
    s.p99Ms.toFixed(3),
    s.minMs.toFixed(3),
    s.cpuMedianMs.toFixed(3),
    s.imagesPerSecond.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [
    `${r.model}`,
    `provider ${r.provider}, onnxruntime ${r.machine.onnxruntime}, ${r.machine.cpu} (${r.machine.cores} cores), input [${r.input.join(', ')}], ${r.warmup} warm-up + ${r.results[0]?.runs ?? 0} timed runs in ${r.rounds} rounds`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}
