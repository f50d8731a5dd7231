// The whole native surface in one typed declaration (after onnxruntime's Node binding), and its
// loader. Only src/native/engine.ts and src/native/image.ts call this directly: they validate
// arguments first, so the binding's own checks are a second line of defence.
//
// Sync methods: tensorInfo, getTensor, setTensor, normalize, pathParameterCount, backendName, memoryBytes
// (they throw GNAS_BUSY while an async call is in flight). Every other method returns a Promise
// resolved from an AsyncWorker off the event loop. Errors carry `code`: GNAS_INVALID_ARGUMENT,
// GNAS_BUSY, GNAS_DISPOSED, GNAS_OUT_OF_MEMORY (the supernet frees its scratch memory and drops the
// failed call's pending gradients, so a smaller call runs next), GNAS_NONFINITE (an update made a
// weight inf or NaN: named in the message; every later compute call and save refuses until a
// checkpoint is loaded), GNAS_DEVICE (a CUDA or NCCL error; the message starts with its name) or
// GNAS_NATIVE.
import { createRequire } from 'node:module';

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
  scoreMath?: string;
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
  scoresInBf16(): boolean;
  replicas(): number;
  memoryBytes(): number;
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

/** The stored size and channels of an image (width = height = 0: its own size). */
export interface NativeImageTarget {
  width: number;
  height: number;
  fit: 'cover' | 'fill';
  channels: 1 | 3;
}

export interface NativeImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface NativeAddon {
  NativeSupernet: new (space: ResolvedSpace, options: NativeOptions) => NativeSupernet;
  /** A JPEG file decoded and prepared, or null when the native decoder does not take it (sharp must). Errors carry code GNAS_IMAGE_DECODE. */
  decodeImage(bytes: Uint8Array, target: NativeImageTarget, async: false): NativeImage | null;
  decodeImage(bytes: Uint8Array, target: NativeImageTarget, async: true): Promise<NativeImage | null>;
  /** A decoded image (1 to 4 channels) converted to the target's channels and resized. */
  prepareImage(data: Uint8Array, width: number, height: number, channels: number, target: NativeImageTarget, async: false): NativeImage;
  prepareImage(data: Uint8Array, width: number, height: number, channels: number, target: NativeImageTarget, async: true): Promise<NativeImage>;
  /** The JPEG library the native decoder loaded ('' when none). */
  imageDecoder: string;
  /** Why there is no native JPEG decoder ('' when there is one). */
  imageDecoderAbsence: string;
  backends: string[];
  probeBackends(): BackendInfo[];
  hardwareThreads: number;
}

let addon: NativeAddon | undefined;

/**
 * Where the addon comes from, resolved by node-gyp-build (the resolver of prebuildify's layout):
 * build/Release/ first, then prebuilds/<platform>-<arch>/ (the binary `npm run build:prebuild`
 * makes and the package ships), then GREEDYNAS_PREBUILD (a folder with either) instead of the
 * package root. A source build wins because it only exists where it was wanted: in a checkout (the
 * developer's current code, not an older prebuild) or in an installed package whose install
 * script built it because the prebuild does not load there (scripts/native-addon.mjs).
 */
function addonFile(root: string): string {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  try {
    return nodeGypBuild.path(root);
  } catch (e) {
    const why = String((e as Error).message).split('\n')[0];
    const dir = process.env.GREEDYNAS_PREBUILD ?? root;
    throw new Error(
      `the greedynas native addon is missing: no build in ${dir}/build/Release and no prebuilt binary for ${process.platform}-${process.arch} in ${dir}/prebuilds (${why}). ` +
        'Build it from source: in a project that installed greedynas, `npm rebuild greedynas`; in a checkout of greedynas, `npm run build:native`. Both need CMake (3.18 or newer) and a C++17 compiler on PATH (Debian/Ubuntu: `apt-get install -y g++ cmake`).',
      { cause: e },
    );
  }
}

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const file = addonFile(packageRoot());
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    throw new Error(`the greedynas native addon ${file} does not load here (${String((e as Error).message).split('\n')[0]}): build it for this machine with \`npm rebuild greedynas\` (needs CMake and a C++17 compiler)`, { cause: e });
  }
  return addon;
}
