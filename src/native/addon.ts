// The whole native surface in one typed declaration (after onnxruntime's Node binding), and the
// loader of build/Release/greedynas.node. Only src/native/engine.ts calls this directly: it
// validates arguments first, so the binding's own checks are a second line of defence.
//
// Sync methods: tensorInfo, getTensor, setTensor, normalize, pathParameterCount, backendName
// (they throw GNAS_BUSY while an async call is in flight). Every other method returns a Promise
// resolved from an AsyncWorker off the event loop. Errors carry `code`: GNAS_INVALID_ARGUMENT,
// GNAS_BUSY, GNAS_DISPOSED, GNAS_OUT_OF_MEMORY (the supernet frees its scratch memory and drops the
// failed call's pending gradients, so a smaller call runs next), GNAS_NONFINITE (an update made a
// weight inf or NaN: named in the message; every later compute call and save refuses until a
// checkpoint is loaded), GNAS_DEVICE (a CUDA or NCCL error; the message starts with its name) or
// GNAS_NATIVE.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { packageRoot } from '../util/package-root.js';
import type { ResolvedSpace } from '../space/types.js';
import type { BackendInfo, TensorInfo } from './api.js';

export interface NativeOptions {
  seed: number;
  threads: number;
  backend: string;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  weightDecayNoDecay: number;
  labelSmoothing: number;
  device?: number;
  math?: string;
  gpus?: number;
}

export type NativeArch = number[] | Int32Array;
export type NativeImages = Uint8Array | Float32Array;

export interface NativeSupernet {
  tensorInfo(): TensorInfo[];
  getTensor(name: string): Float32Array;
  setTensor(name: string, data: Float32Array): void;
  normalize(images: NativeImages): Float32Array;
  pathParameterCount(arch: NativeArch): number;
  backendName(): string;
  replicas(): number;
  replicaDivergence(): number;
  trainStep(arch: NativeArch, images: NativeImages, labels: Int32Array, lr: number): Promise<{ loss: number; correct: number }>;
  accumulateGradients(arch: NativeArch, images: NativeImages, labels: Int32Array): Promise<{ loss: number; correct: number }>;
  applyUpdate(lr: number): Promise<void>;
  evaluate(archs: NativeArch[], images: NativeImages, labels: Int32Array, bn: 'batch' | 'running'): Promise<Array<{ loss: number; correct: number; count: number }>>;
  predict(arch: NativeArch, images: NativeImages, bn: 'batch' | 'running'): Promise<Float32Array>;
  calibrateBn(arch: NativeArch, batches: NativeImages[]): Promise<void>;
  save(path: string, extra: string): Promise<void>;
  load(path: string): Promise<string>;
  /** Frees the native supernet now (sync); later calls throw GNAS_DISPOSED; GNAS_BUSY while calls are in flight. */
  dispose(): undefined;
}

export interface NativeAddon {
  NativeSupernet: new (space: ResolvedSpace, options: NativeOptions) => NativeSupernet;
  backends: string[];
  probeBackends(): BackendInfo[];
  hardwareThreads: number;
}

let addon: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const root = packageRoot();
  const candidates = [join(root, 'build', 'Release', 'greedynas.node'), join(root, 'build', 'greedynas.node')];
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`the native addon is not built (looked for ${candidates.join(', ')}): run \`npm run build:native\``);
  const require = createRequire(import.meta.url);
  addon = require(file) as NativeAddon;
  return addon;
}
