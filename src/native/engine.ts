// The supernet engine as TypeScript users see it. Every argument is checked here first, with a
// message that names the parameter, what was expected and what came; the addon then copies the
// data and runs the work off the event loop (AsyncWorker), resolving a Promise.
import { resolveSpace } from '../space/resolve.js';
import type { Arch, ResolvedSpace, SpaceFile } from '../space/types.js';
import { loadAddon, type NativeOptions, type NativeSupernet } from './addon.js';
import type { BackendInfo, BnMode, EngineOptions, EvalResult, Images, Labels, StepResult, TensorInfo } from './api.js';

export class EngineError extends Error {
  constructor(
    message: string,
    readonly code = 'GNAS_INVALID_ARGUMENT',
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of length ${(v as unknown as { length: number }).length}`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

function isResolved(s: SpaceFile | ResolvedSpace): s is ResolvedSpace {
  return Array.isArray((s as ResolvedSpace).layers);
}

/** The backends of this build and whether each can run here (cuda: driver and devices found). */
export function probeBackends(): BackendInfo[] {
  return loadAddon().probeBackends();
}

/** Throws a clear EngineError unless the cuda backend is built and has at least `devices` devices. */
export function requireCuda(devices: number): void {
  const cuda = probeBackends().find((b) => b.name === 'cuda');
  if (!cuda || !cuda.built) {
    throw new EngineError('the cuda backend is not in this build: nvcc was not found when the addon was compiled (install the CUDA toolkit, then npm run build:native)', 'GNAS_DEVICE');
  }
  if (cuda.devices < devices) {
    throw new EngineError(`the cuda backend needs ${devices} device(s), this machine has ${cuda.devices}: ${cuda.detail}`, 'GNAS_DEVICE');
  }
}

export class Supernet {
  readonly space: ResolvedSpace;
  readonly options: Readonly<NativeOptions>;
  private readonly native: NativeSupernet;
  private readonly pixels: number;
  /** Calls run in the order they were made: each native call starts when the previous settled. */
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  private constructor(space: ResolvedSpace, options: NativeOptions) {
    this.space = space;
    this.options = Object.freeze({ ...options });
    this.pixels = space.input.height * space.input.width * space.input.channels;
    const addon = loadAddon();
    this.native = new addon.NativeSupernet(space, options);
  }

  /** Builds the supernet of a space (a space file object or an already resolved space). */
  static async create(space: SpaceFile | ResolvedSpace, options: EngineOptions = {}): Promise<Supernet> {
    const resolved = isResolved(space) ? space : resolveSpace(space);
    const num = (name: keyof EngineOptions, v: unknown, def: number, min: number, max: number): number => {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
        throw new EngineError(`options.${name}: expected a number in [${min}, ${max}], got ${describe(v)}`);
      }
      return v;
    };
    const seed = num('seed', options.seed, 0, 0, Number.MAX_SAFE_INTEGER);
    if (!Number.isInteger(seed)) throw new EngineError(`options.seed: expected an integer, got ${seed}`);
    const threads = num('threads', options.threads, 0, 0, 1024);
    if (!Number.isInteger(threads)) throw new EngineError(`options.threads: expected an integer, got ${threads}`);
    const backend = options.backend ?? 'cpu';
    if (backend !== 'cpu' && backend !== 'reference' && backend !== 'cuda') {
      throw new EngineError(`options.backend: expected 'cpu', 'cuda' or 'reference', got ${JSON.stringify(backend)}`);
    }
    const device = num('device', options.device, 0, 0, 1023);
    const gpus = num('gpus', options.gpus, 1, 1, 1024);
    if (!Number.isInteger(device)) throw new EngineError(`options.device: expected an integer, got ${device}`);
    if (!Number.isInteger(gpus)) throw new EngineError(`options.gpus: expected an integer, got ${gpus}`);
    const math = options.math ?? 'fp32';
    if (math !== 'fp32' && math !== 'tf32' && math !== 'bf16') {
      throw new EngineError(`options.math: expected 'fp32', 'tf32' or 'bf16', got ${JSON.stringify(math)}`);
    }
    if (backend !== 'cuda' && (gpus > 1 || options.device !== undefined || options.math !== undefined)) {
      throw new EngineError(`options.gpus/device/math apply to backend 'cuda' only (backend is '${backend}')`);
    }
    if (backend === 'cuda') requireCuda(device + gpus);
    const scoreMath = options.scoreMath ?? 'auto';
    if (scoreMath !== 'fp32' && scoreMath !== 'bf16' && scoreMath !== 'auto') {
      throw new EngineError(`options.scoreMath: expected 'fp32', 'bf16' or 'auto', got ${JSON.stringify(scoreMath)}`);
    }
    if (options.nesterov !== undefined && typeof options.nesterov !== 'boolean') {
      throw new EngineError(`options.nesterov: expected a boolean, got ${describe(options.nesterov)}`);
    }
    const native: NativeOptions = {
      seed,
      threads,
      backend,
      momentum: num('momentum', options.momentum, 0.9, 0, 1),
      nesterov: options.nesterov ?? true,
      weightDecay: num('weightDecay', options.weightDecay, 4e-5, 0, 1),
      weightDecayNoDecay: num('weightDecayNoDecay', options.weightDecayNoDecay, 0, 0, 1),
      labelSmoothing: num('labelSmoothing', options.labelSmoothing, 0.1, 0, 1),
      scoreMath,
      ...(backend === 'cuda' ? { device, math, gpus } : {}),
    };
    return new Supernet(resolved, native);
  }

  /** Name of the backend computing (e.g. "cpu-avx512", "reference", "cuda:0"). */
  get backend(): string {
    return this.native.backendName();
  }

  /** Arithmetic evaluate() uses for the 1x1 and depthwise convs: 'bf16' where options.scoreMath allows it and the backend has fast bfloat16, else 'fp32'. */
  get scoreMath(): 'fp32' | 'bf16' {
    return this.native.scoresInBf16() ? 'bf16' : 'fp32';
  }

  /**
   * Native memory the network held when its last call finished, in bytes: weights, gradients and
   * momentum, the activation buffers (they grow to the largest batch seen) and the backend's scratch
   * (device memory on a GPU backend).
   */
  get memoryBytes(): number {
    return this.native.memoryBytes();
  }

  /** Data-parallel replicas (1 unless options.gpus > 1). */
  get replicas(): number {
    return this.native.replicas();
  }

  /** Largest difference between replica 0's tensors (values and momentum) and any other replica's: 0 when bit-identical. */
  replicaDivergence(): number {
    this.notBusy('replicaDivergence');
    return this.native.replicaDivergence();
  }

  // ---------------- checks ----------------
  private checkArch(arch: unknown, what = 'arch'): Arch {
    if (!Array.isArray(arch) && !(arch instanceof Int32Array)) throw new EngineError(`${what}: expected an array of choice indices, got ${describe(arch)}`);
    const a = Array.from(arch as ArrayLike<number>);
    const L = this.space.layers.length;
    if (a.length !== L) throw new EngineError(`${what}: expected ${L} choices (one per searchable layer), got ${a.length}`);
    const n = this.space.opNames.length;
    a.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= n) throw new EngineError(`${what}[${i}]: expected an integer choice in [0, ${n - 1}], got ${describe(c)}`);
    });
    return a;
  }

  private checkImages(images: unknown, what = 'images', count?: number): number {
    if (!(images instanceof Uint8Array) && !(images instanceof Float32Array)) {
      throw new EngineError(`${what}: expected a Uint8Array (0..255) or Float32Array ([0,1]) of NHWC pixels, got ${describe(images)}`);
    }
    const { height, width, channels } = this.space.input;
    if (images.length === 0 || images.length % this.pixels !== 0) {
      throw new EngineError(`${what}: length ${images.length} is not a whole number of ${height}x${width}x${channels} images`);
    }
    const n = images.length / this.pixels;
    if (count !== undefined && n !== count) throw new EngineError(`${what}: holds ${n} images but labels has ${count}`);
    return n;
  }

  private checkLabels(labels: unknown): Int32Array {
    if (!(labels instanceof Int32Array) && !(labels instanceof Uint8Array) && !Array.isArray(labels)) {
      throw new EngineError(`labels: expected an Int32Array, Uint8Array or array of class indices, got ${describe(labels)}`);
    }
    const k = this.space.classes;
    const out = labels instanceof Int32Array ? labels : Int32Array.from(labels as ArrayLike<number>);
    if (out.length === 0) throw new EngineError('labels: empty');
    const src = labels as ArrayLike<number>;
    for (let i = 0; i < out.length; i++) {
      const v = src[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= k) {
        throw new EngineError(`labels[${i}]: expected a class index in [0, ${k - 1}], got ${describe(v)}`);
      }
    }
    return out;
  }

  private checkLr(lr: unknown): number {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new EngineError(`lr: expected a finite number >= 0, got ${describe(lr)}`);
    return lr;
  }

  private checkBn(bn: unknown): BnMode {
    if (bn !== 'batch' && bn !== 'running') throw new EngineError(`bn: expected 'batch' or 'running', got ${JSON.stringify(bn)}`);
    return bn;
  }

  private enqueue<T>(call: () => Promise<T>): Promise<T> {
    if (this.disposedFlag) return Promise.reject(new EngineError('the supernet was disposed (dispose() was called): create a new one', 'GNAS_DISPOSED'));
    // An idle supernet starts the call now, so the addon has copied the inputs before this
    // returns; behind other calls, snapshot() copied them. Either way the caller may reuse its
    // buffers at once. (Starting from a .then() would copy them a microtask later.)
    let run: Promise<T>;
    if (this.pending === 0) {
      try {
        run = call();
      } catch (e) {
        run = Promise.reject(e);
      }
    } else {
      run = this.tail.then(call, call);
    }
    this.pending++;
    this.tail = run.then(
      () => this.pending--,
      () => this.pending--,
    );
    return run;
  }

  /** The native side copies its inputs when a call starts; a call that must wait behind others
   *  copies them now (enqueue starts an unqueued call at once), so the caller may reuse its
   *  buffers as soon as the call is made. */
  private snapshot<T extends Images>(images: T, labels?: Int32Array): [T, Int32Array] {
    if (this.pending === 0) return [images, labels ?? new Int32Array(0)];
    return [images.slice() as T, labels ? labels.slice() : new Int32Array(0)];
  }

  private notBusy(what: string): void {
    if (this.pending > 0) throw new EngineError(`${what}: the supernet is busy with ${this.pending} unfinished call(s); await them first`, 'GNAS_BUSY');
  }

  /** Number of async calls issued and not yet settled. */
  get busy(): number {
    return this.pending;
  }

  private disposedFlag = false;

  /** True once dispose() has run. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Frees the native supernet (weights, momentum, workspace: ~100 MB for a small space, GBs for
   * ImageNet) after the calls already made have settled. The garbage collector would free it too,
   * but it does not see native memory, so loops that create a network per path (ground truth,
   * retraining random paths) must dispose of each. Any later call throws GNAS_DISPOSED.
   */
  async dispose(): Promise<void> {
    if (this.disposedFlag) return;
    this.disposedFlag = true; // refuse new calls now; the queued ones still run
    await this.tail;
    this.native.dispose();
  }

  // ---------------- tensors ----------------
  tensorInfo(): TensorInfo[] {
    return this.native.tensorInfo();
  }

  getTensor(name: string): Float32Array {
    this.notBusy(`getTensor(${name})`);
    return this.native.getTensor(name);
  }

  setTensor(name: string, data: Float32Array): void {
    if (!(data instanceof Float32Array)) throw new EngineError(`setTensor(${name}): expected a Float32Array, got ${describe(data)}`);
    this.notBusy(`setTensor(${name})`);
    this.native.setTensor(name, data);
  }

  /** Parameters of one path (weights and BN affine parameters; running statistics excluded). */
  pathParameterCount(arch: Arch): number {
    return this.native.pathParameterCount(this.checkArch(arch));
  }

  /** Images as the first layer sees them: NHWC float32, normalised with the space's mean/std. */
  normalize(images: Images): Float32Array {
    this.checkImages(images);
    this.notBusy('normalize');
    return this.native.normalize(images);
  }

  // ---------------- compute (async) ----------------
  /** Forward (train-mode BN, running statistics updated), backward, SGD on the path only. */
  async trainStep(arch: Arch, images: Images, labels: Labels, opts: { lr: number }): Promise<StepResult> {
    const a = this.checkArch(arch);
    const l = this.checkLabels(labels);
    this.checkImages(images, 'images', l.length);
    const lr = this.checkLr(opts?.lr);
    const [im, lb] = this.snapshot(images, l);
    return this.enqueue(() => this.native.trainStep(a, im, lb, lr));
  }

  /** Forward and backward only: gradients add up until applyUpdate (strict-fair training). */
  async accumulateGradients(arch: Arch, images: Images, labels: Labels): Promise<StepResult> {
    const a = this.checkArch(arch);
    const l = this.checkLabels(labels);
    this.checkImages(images, 'images', l.length);
    const [im, lb] = this.snapshot(images, l);
    return this.enqueue(() => this.native.accumulateGradients(a, im, lb));
  }

  /** One SGD step on every parameter holding an accumulated gradient. */
  async applyUpdate(lr: number): Promise<void> {
    const rate = this.checkLr(lr);
    return this.enqueue(() => this.native.applyUpdate(rate));
  }

  /**
   * Scores many paths on the same images, forward only. The stem and fixed blocks run once, and
   * paths that share their first j choices share those layers' activations. With bn 'batch'
   * (default) BN uses the batch's statistics and the running statistics are left untouched.
   */
  async evaluate(archs: Arch[], images: Images, labels: Labels, opts: { bn?: BnMode } = {}): Promise<EvalResult[]> {
    if (!Array.isArray(archs) || archs.length === 0) throw new EngineError(`archs: expected a non-empty array of archs, got ${describe(archs)}`);
    const as = archs.map((a, i) => this.checkArch(a, `archs[${i}]`));
    const l = this.checkLabels(labels);
    this.checkImages(images, 'images', l.length);
    const bn = this.checkBn(opts.bn ?? 'batch');
    const [im, lb] = this.snapshot(images, l);
    return this.enqueue(() => this.native.evaluate(as, im, lb, bn));
  }

  /** Logits [N][classes] of one path. */
  async predict(arch: Arch, images: Images, opts: { bn?: BnMode } = {}): Promise<Float32Array> {
    const a = this.checkArch(arch);
    this.checkImages(images);
    const bn = this.checkBn(opts.bn ?? 'running');
    const [im] = this.snapshot(images);
    return this.enqueue(() => this.native.predict(a, im, bn));
  }

  /** Resets the path's BN running statistics and re-estimates them over the batches. */
  async calibrateBn(arch: Arch, batches: Images[]): Promise<void> {
    const a = this.checkArch(arch);
    if (!Array.isArray(batches) || batches.length === 0) throw new EngineError(`batches: expected a non-empty array of image batches, got ${describe(batches)}`);
    batches.forEach((b, i) => this.checkImages(b, `batches[${i}]`));
    const copies = this.pending > 0 ? batches.map((b) => b.slice()) : batches;
    return this.enqueue(() => this.native.calibrateBn(a, copies));
  }

  /** Writes every tensor and the momentum buffers (atomic, checksummed); `extra` is stored too. */
  async save(path: string, extra = ''): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw new EngineError(`path: expected a file path, got ${describe(path)}`);
    return this.enqueue(() => this.native.save(path, extra));
  }

  /** Restores a file written by save() for the same space; resolves with its `extra` string. */
  async load(path: string): Promise<string> {
    if (typeof path !== 'string' || path.length === 0) throw new EngineError(`path: expected a file path, got ${describe(path)}`);
    return this.enqueue(() => this.native.load(path));
  }
}
