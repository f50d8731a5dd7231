// The W1 workload of `npm run bench`, written once to a folder that every side reads: the engine
// (src/bench/ours-w1.ts), the PyTorch peer (bench/peers/torch_w1.py) and the onnxruntime peer
// (src/bench/ort-w1.ts). Every side then trains on the same images, scores the same paths on the
// same images, and times the same work.
//
//   workload.json        manifest: space and path files, shapes, seeds, the round paths, chunk sizes
//   train.u8             trainBatches x 128 images, uint8 NHWC (H x W x C per image)
//   train-labels.i32     their labels, int32 little-endian
//   score.u8             the held-out scoring images of a greedy round, uint8 NHWC
//   score-labels.i32     their labels
//
// Images and labels are uniform noise from the project's Rng (src/util/rng.ts; synthetic(): the
// content does not matter for speed, and every peer reads the files). The round paths are uniform
// random paths of the space drawn by the same Rng from ROUND_SEED.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ResolvedSpace } from '../space/types.js';
import { Rng } from '../util/rng.js';

export const TRAIN_BATCH = 128;
export const TRAIN_BATCHES = 4;
export const SCORE_IMAGES = 1000;
export const ROUND_PATHS = 10;
export const ROUND_SEED = 7;
/** Chunk sizes (images per forward) each side tries for a round; it then runs at its best. */
export const ROUND_CHUNKS = [250, 500, 1000];

export interface Workload {
  version: 1;
  space: string;
  pathFile: string;
  arch: number[];
  image: { height: number; width: number; channels: number };
  classes: number;
  train: { images: string; labels: string; batch: number; batches: number; seed: number };
  score: { images: string; labels: string; count: number; seed: number };
  rounds: { seed: number; m: number; paths: number[][][] };
  chunks: number[];
  formula: string;
}

/** n images of `pixels` bytes and n labels below `classes` from the stream `new Rng(seed)`: images first (rng.int(256) per byte), then labels (rng.int(classes)). */
export function synthetic(n: number, pixels: number, classes: number, seed: number): { images: Uint8Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * pixels);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  return { images, labels };
}

/** `rounds` rounds of m uniform random paths of the space, from `seed`. */
export function roundPaths(space: ResolvedSpace, rounds: number, m: number, seed: number): number[][][] {
  const rng = new Rng(seed);
  return Array.from({ length: rounds }, () => Array.from({ length: m }, () => space.layers.map(() => rng.int(space.opNames.length))));
}

/** Writes the workload into `dir` (which must exist) and returns its manifest. */
export function writeWorkload(dir: string, space: ResolvedSpace, files: { space: string; path: string }, arch: number[], rounds: number): Workload {
  const { height, width, channels } = space.input;
  const pixels = height * width * channels;
  const train = synthetic(TRAIN_BATCH * TRAIN_BATCHES, pixels, space.classes, 1);
  const score = synthetic(SCORE_IMAGES, pixels, space.classes, 2);
  const w: Workload = {
    version: 1,
    space: files.space,
    pathFile: files.path,
    arch,
    image: { height, width, channels },
    classes: space.classes,
    train: { images: 'train.u8', labels: 'train-labels.i32', batch: TRAIN_BATCH, batches: TRAIN_BATCHES, seed: 1 },
    score: { images: 'score.u8', labels: 'score-labels.i32', count: SCORE_IMAGES, seed: 2 },
    rounds: { seed: ROUND_SEED, m: ROUND_PATHS, paths: roundPaths(space, rounds, ROUND_PATHS, ROUND_SEED) },
    chunks: ROUND_CHUNKS,
    formula: 'src/bench/workload.ts synthetic(): src/util/rng.ts new Rng(seed); images (rng.int(256) per byte, NHWC) then labels (rng.int(classes))',
  };
  writeFileSync(join(dir, w.train.images), train.images);
  writeFileSync(join(dir, w.train.labels), new Uint8Array(train.labels.buffer));
  writeFileSync(join(dir, w.score.images), score.images);
  writeFileSync(join(dir, w.score.labels), new Uint8Array(score.labels.buffer));
  writeFileSync(join(dir, 'workload.json'), JSON.stringify(w, null, 1) + '\n');
  return w;
}

export interface LoadedWorkload extends Workload {
  dir: string;
  trainImages: Uint8Array[];
  trainLabels: Int32Array[];
  scoreImages: Uint8Array;
  scoreLabels: Int32Array;
}

function int32s(file: string): Int32Array {
  const b = readFileSync(file);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Reads a workload folder written by writeWorkload(). */
export function readWorkload(dir: string): LoadedWorkload {
  const w = JSON.parse(readFileSync(join(dir, 'workload.json'), 'utf8')) as Workload;
  const pixels = w.image.height * w.image.width * w.image.channels;
  const ti = new Uint8Array(readFileSync(join(dir, w.train.images)));
  const tl = int32s(join(dir, w.train.labels));
  const B = w.train.batch;
  return {
    ...w,
    dir,
    trainImages: Array.from({ length: w.train.batches }, (_, i) => ti.slice(i * B * pixels, (i + 1) * B * pixels)),
    trainLabels: Array.from({ length: w.train.batches }, (_, i) => tl.slice(i * B, (i + 1) * B)),
    scoreImages: new Uint8Array(readFileSync(join(dir, w.score.images))),
    scoreLabels: int32s(join(dir, w.score.labels)),
  };
}

/**
 * Peak resident memory of this process in MiB, from VmHWM in /proc/self/status. Unlike
 * getrusage's ru_maxrss, which Linux carries from a parent across fork and exec, VmHWM belongs to
 * the process' own address space; resetPeakRss() sets it back to the current RSS. null off Linux.
 */
export function peakRssMb(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux >= 4.0: "5" to /proc/self/clear_refs); false if refused. */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Loss and top-1 of one path over all scoring images, from chunks (mean weighted by count). */
export interface PathScore {
  loss: number;
  accuracy: number;
}
