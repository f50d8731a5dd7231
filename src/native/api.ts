// The public contract of the native supernet engine as TypeScript sees it. The implementation
// (src/native/engine.ts) validates every argument here, at the edge, and forwards plain objects
// to the addon (native/binding). Every method that computes returns a Promise resolved by an
// N-API AsyncWorker: the event loop stays free while the engine works.

/** Images: N x H x W x C, channels last. uint8 in 0..255 or float32 in [0, 1]. */
export type Images = Uint8Array | Float32Array;
/** Labels: N class indices. */
export type Labels = Int32Array | Uint8Array | number[];

export type BnMode = 'batch' | 'running';

export interface OptimizerOptions {
  /** SGD momentum (default 0.9). */
  momentum: number;
  /** Nesterov momentum (default true). */
  nesterov: boolean;
  /** Weight decay on conv and fc weights (default 4e-5). */
  weightDecay: number;
  /** Weight decay on BN parameters and biases (default 0). */
  weightDecayNoDecay: number;
  /** Label smoothing of the training loss (default 0.1). */
  labelSmoothing: number;
}

export interface EngineOptions extends Partial<OptimizerOptions> {
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
  /** Worker threads of the CPU backend (default: all cores). */
  threads?: number;
  /** 'cpu' (default, fast), 'cuda' (a GPU; see probeBackends()) or 'reference' (slow, exact; for tests). */
  backend?: 'cpu' | 'reference' | 'cuda';
  /** cuda: first device ordinal (default 0). */
  device?: number;
  /** cuda: GEMM arithmetic of the dense convs and the classifier (default 'fp32'; 'tf32'/'bf16' use tensor cores with FP32 accumulation). */
  math?: 'fp32' | 'tf32' | 'bf16';
  /** cuda: data-parallel replicas on devices device .. device+gpus-1 (default 1). Batches must divide evenly. */
  gpus?: number;
  /**
   * Arithmetic when scoring paths with evaluate() (never training or predict): 'fp32', or
   * 'bf16' / 'auto' (default): bfloat16 products with float sums in the 1x1 and depthwise convs,
   * and MBConv activations stored in bfloat16 between ops, where the backend has fast bfloat16
   * (the cpu backend on CPUs with AVX512-BF16), FP32 elsewhere. `scoreMath` on the supernet says
   * which one evaluate() uses.
   */
  scoreMath?: 'fp32' | 'bf16' | 'auto';
}

/** What a backend can do on this machine (from probeBackends()). */
export interface BackendInfo {
  name: 'reference' | 'cpu' | 'cuda';
  /** Compiled into this build of the addon. */
  built: boolean;
  /** Can run now (cuda: a driver and at least one device). */
  usable: boolean;
  devices: number;
  /** One line: the CPU kernels chosen, the GPUs found, or why the backend cannot run. */
  detail: string;
}

export interface StepResult {
  /** Mean training loss of the batch (label smoothing included). */
  loss: number;
  /** Number of images whose argmax equals the label. */
  correct: number;
}

export interface EvalResult {
  /** Mean cross-entropy (no label smoothing) over the images. */
  loss: number;
  correct: number;
  /** Number of images scored. */
  count: number;
}

export interface TensorInfo {
  name: string;
  shape: number[];
  /** 'param' (trained) or 'buffer' (BN running statistics). */
  kind: 'param' | 'buffer';
}
