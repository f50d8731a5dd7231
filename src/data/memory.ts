// Datasets built in memory by a library user (images already decoded, from a tensor library, a
// generator or a test): createDataset() takes plain arrays or typed arrays, copies them into the
// layout every other part of greedynas reads (NHWC uint8 images, int32 labels) and checks them,
// so that a mistake (a wrong image count, a label out of range) is reported here, naming the
// field, rather than deep inside the engine.
import { DataError, isPositiveInt, validateDataset, type Dataset } from './types.js';

export interface DatasetInput {
  /** N x height x width x channels values, channels last: bytes 0..255 (Uint8Array, number[]) or floats in [0, 1] (Float32Array), converted to bytes. */
  images: Uint8Array | Float32Array | ArrayLike<number>;
  /** N class indices in [0, classes). */
  labels: Int32Array | Uint8Array | ArrayLike<number>;
  height: number;
  width: number;
  channels: number;
  /** Number of classes (default: the largest label + 1). */
  classes?: number;
  classNames?: string[];
}

/** A checked Dataset from in-memory arrays (copied; the caller's arrays are not kept). */
export function createDataset(input: DatasetInput, what = 'dataset'): Dataset {
  if (input === null || typeof input !== 'object') throw new DataError('BAD_ARGUMENT', `${what}: expected an object with images, labels, height, width, channels`);
  for (const k of ['height', 'width', 'channels'] as const) {
    if (!isPositiveInt(input[k])) throw new DataError('BAD_ARGUMENT', `${what}.${k}: expected a positive integer, got ${String(input[k])}`);
  }
  const src = input.images;
  if (src === null || typeof src !== 'object' || typeof (src as ArrayLike<number>).length !== 'number') {
    throw new DataError('BAD_ARGUMENT', `${what}.images: expected a Uint8Array, Float32Array or array of numbers`);
  }
  let images: Uint8Array;
  if (src instanceof Float32Array) {
    // Floats in [0, 1], as the engine also takes them: rounded to the byte the engine would see.
    images = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      if (!(v >= 0 && v <= 1)) throw new DataError('BAD_ARGUMENT', `${what}.images[${i}]: expected a float in [0, 1], got ${v}`);
      images[i] = Math.round(v * 255);
    }
  } else {
    images = Uint8Array.from(src as ArrayLike<number>);
    if (!(src instanceof Uint8Array)) {
      const a = src as ArrayLike<number>;
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new DataError('BAD_ARGUMENT', `${what}.images[${i}]: expected an integer in [0, 255], got ${v}`);
      }
    }
  }
  const labels = Int32Array.from(input.labels as ArrayLike<number>);
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    if (!Number.isInteger((input.labels as ArrayLike<number>)[i])) throw new DataError('BAD_ARGUMENT', `${what}.labels[${i}]: expected an integer class index, got ${(input.labels as ArrayLike<number>)[i]}`);
    max = Math.max(max, labels[i]!);
  }
  const classes = input.classes ?? max + 1;
  const ds: Dataset = { images, labels, height: input.height, width: input.width, channels: input.channels, classes };
  if (input.classNames !== undefined) ds.classNames = [...input.classNames];
  validateDataset(ds, what);
  return ds;
}
