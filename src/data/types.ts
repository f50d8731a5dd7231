// The data layer's shared types: an in-memory image dataset (one NHWC uint8 tensor plus int32
// labels), the error type every data module throws, and small helpers (validation,
// subsets) that every other file in src/data/ uses.
//
// Dimension letters used throughout src/data/: N images, H height, W width, C channels,
// layout NHWC (channels last), one byte per channel value (0..255).

/** A labelled image dataset held in memory as one NHWC uint8 tensor. */
export interface Dataset {
  /** N*H*W*C bytes, image-major, channels last. */
  images: Uint8Array;
  /** N class indices in [0, classes). */
  labels: Int32Array;
  height: number;
  width: number;
  channels: number;
  /** Number of classes (labels are in [0, classes)). */
  classes: number;
  /** Optional human-readable class names, `classes` of them, in label order. */
  classNames?: string[];
}

/** Machine-readable causes of data-layer errors (DataError.code). */
export type DataErrorCode =
  | 'BAD_ARGUMENT'
  | 'IDX_BAD_MAGIC'
  | 'IDX_TRUNCATED'
  | 'IDX_TRAILING_DATA'
  | 'IDX_UNSUPPORTED'
  | 'IDX_BAD_GZIP'
  | 'IDX_COUNT_MISMATCH'
  | 'IDX_BAD_LABEL'
  | 'IMAGE_DECODE'
  | 'IMAGE_SIZE_MISMATCH'
  | 'FOLDER_LAYOUT'
  | 'SPLIT_MISMATCH'
  | 'SPLIT_FORMAT'
  | 'LOADER_STATE'
  | 'DATASET_NOT_FOUND';

/** Every error thrown by src/data/ on bad input; `file` names the offending file when there is one. */
export class DataError extends Error {
  readonly code: DataErrorCode;
  readonly file: string | undefined;
  constructor(code: DataErrorCode, message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DataError';
    this.code = code;
    this.file = options?.file;
  }
}

/** Number of images in a dataset. */
export function datasetSize(ds: Dataset): number {
  return ds.labels.length;
}

/** Bytes of one image (H*W*C). */
export function imageBytes(ds: Pick<Dataset, 'height' | 'width' | 'channels'>): number {
  return ds.height * ds.width * ds.channels;
}

export function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws DataError('BAD_ARGUMENT') naming `what` unless the dataset is self-consistent. */
export function validateDataset(ds: Dataset, what = 'dataset'): void {
  for (const k of ['height', 'width', 'channels', 'classes'] as const) {
    if (!isPositiveInt(ds[k])) {
      throw new DataError('BAD_ARGUMENT', `${what}.${k}: expected a positive integer, got ${String(ds[k])}`);
    }
  }
  if (!(ds.images instanceof Uint8Array)) {
    throw new DataError('BAD_ARGUMENT', `${what}.images: expected a Uint8Array`);
  }
  if (!(ds.labels instanceof Int32Array)) {
    throw new DataError('BAD_ARGUMENT', `${what}.labels: expected an Int32Array`);
  }
  const expected = ds.labels.length * imageBytes(ds);
  if (ds.images.length !== expected) {
    throw new DataError(
      'BAD_ARGUMENT',
      `${what}.images: expected ${expected} bytes (${ds.labels.length} x ${ds.height} x ${ds.width} x ${ds.channels}), got ${ds.images.length}`,
    );
  }
  for (let i = 0; i < ds.labels.length; i++) {
    const l = ds.labels[i]!;
    if (l < 0 || l >= ds.classes) {
      throw new DataError('BAD_ARGUMENT', `${what}.labels[${i}]: expected a class index in [0, ${ds.classes}), got ${l}`);
    }
  }
  if (ds.classNames !== undefined && ds.classNames.length !== ds.classes) {
    throw new DataError(
      'BAD_ARGUMENT',
      `${what}.classNames: expected ${ds.classes} names, got ${ds.classNames.length}`,
    );
  }
}

/** A new dataset holding copies of the images at `indices`, in that order. */
export function subsetDataset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const n = datasetSize(ds);
  const size = imageBytes(ds);
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new DataError('BAD_ARGUMENT', `indices[${k}]: expected an integer in [0, ${n}), got ${i}`);
    }
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = ds.labels[i]!;
  }
  const out: Dataset = {
    images,
    labels,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    classes: ds.classes,
  };
  if (ds.classNames !== undefined) out.classNames = [...ds.classNames];
  return out;
}

/** Number of images of each class: counts[c] for c in [0, classes). */
export function classCounts(labels: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l >= 0 && l < classes) counts[l]!++;
  }
  return counts;
}
