// The batch loader: an endless stream of fixed-size training batches over a dataset (or a subset
// of it, e.g. a split's training indices), shuffled per epoch, augmented, and prepared one batch
// ahead so that gathering and augmentation overlap the consumer's native (async) training step.
//
// Reproducibility: the order of epoch e is a pure function of (seed, e), and the augmentation of
// batch b of epoch e a pure function of (seed, e, b): each comes from its own keyed stream of
// src/util/rng.ts. So {seed, epoch, index} (with the stream version) is the loader's whole random state; state() / restore() save and resume it,
// and a prefetched batch never consumes randomness that a checkpoint would miss.
//
// Prefetch choice (measured): the next batch is built on the main thread, in a setImmediate
// callback queued when the current batch is handed out, i.e. while the consumer awaits the
// engine's AsyncWorker (whose threads do the math off the main thread). Per batch, on the 2-core
// development machine (best of 3, while other builds ran): gather only, 256 CIFAR images 0.5 ms;
// pad-crop + flip, 256 CIFAR images 2.7 ms, 256 Fashion-MNIST images 2.8 ms; random-resized-crop
// + flip of 64 images, 160 -> 128 px 46 ms, 256 -> 224 px 138 ms. Engine steps on such batches take
// hundreds of milliseconds to seconds, so the work hides inside the step. A worker_thread would
// not make it cheaper (it competes for the same cores as the engine's threads) and would need the
// dataset in shared memory, so none is used; the only cost is that the event loop is busy for
// that long once per batch.
import { crc32 } from 'node:zlib';

import { Rng, RNG_STREAMS, rngStreamsMismatch } from '../util/rng.js';
import { augmentGather, augmentedShape, checkAugmentSpec, type AugmentSpec, type ImageShape } from './augment.js';
import { DataError, datasetSize, isPositiveInt, validateDataset, type Dataset } from './types.js';

const ORDER_STREAM = 0x0d3e;
const AUGMENT_STREAM = 0xa06e;

export interface LoaderOptions {
  batchSize: number;
  /** Seed of the order and the augmentation (default 0). */
  seed?: number;
  /** Shuffle each epoch (default true); false: indices in the given order every epoch. */
  shuffle?: boolean;
  /** Drop the last incomplete batch of an epoch (default true): every batch has batchSize images. */
  dropLast?: boolean;
  /** Augmentation applied to every batch (default: none). */
  augment?: AugmentSpec | null;
  /** The dataset images to iterate over (e.g. a split's training indices). Default: all. */
  indices?: ArrayLike<number>;
  /** Prepare the next batch while the consumer works on this one (default true). */
  prefetch?: boolean;
}

export interface Batch {
  /** count x height x width x channels, uint8 NHWC; a fresh array the consumer may keep. */
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Dataset indices of the images, in batch order. */
  indices: Int32Array;
  /** Epoch and index within the epoch of this batch. */
  epoch: number;
  index: number;
}

/** A loader's position, JSON-able. The next batch next() returns is batch `index` of `epoch`. */
export interface LoaderState {
  version: 1;
  /** Version of the random streams (src/util/rng.ts RNG_STREAMS): another one draws other batches. */
  rngStreams: number;
  /** Seed of the order and augmentation streams: with epoch and index, the loader's whole RNG state. */
  seed: number;
  epoch: number;
  index: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  /** Number of images iterated over and CRC-32 of their indices: restore() refuses another subset. */
  size: number;
  indicesCrc32: number;
}

/** What every training loop needs of a loader: BatchLoader (in memory) and StreamingLoader (src/data/stream-loader.ts). */
export interface TrainingLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly size: number;
  next(): Promise<Batch>;
  state(): LoaderState;
  restore(state: LoaderState): void;
  /** Frees what the loader holds (worker threads); a no-op in memory. */
  close(): Promise<void>;
}

/**
 * The position and order shared by both loaders: the image indices iterated over, the epoch order
 * (a pure function of seed and epoch), the cursor {epoch, index}, state() and the checks of
 * restore(). Both loaders draw the same order and the same augmentation for the same seed.
 */
export abstract class LoaderCursor {
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly augment: AugmentSpec | null;
  readonly prefetch: boolean;
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;
  /** Shape of the images of every batch (after augmentation). */
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  protected readonly indices: Int32Array;
  private readonly indicesCrc32: number;
  protected epoch = 0;
  protected index = 0;
  private orderCache: { epoch: number; order: Int32Array } | undefined;

  /** `count` images of `shape` (before augmentation); options.indices must lie in [0, count). */
  constructor(count: number, shape: ImageShape, options: LoaderOptions) {
    if (!isPositiveInt(options.batchSize)) {
      throw new DataError('BAD_ARGUMENT', `batchSize: expected a positive integer, got ${String(options.batchSize)}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
      throw new DataError('BAD_ARGUMENT', `seed: expected a non-negative integer, got ${seed}`);
    }
    let indices: Int32Array;
    if (options.indices === undefined) {
      indices = new Int32Array(count);
      for (let i = 0; i < count; i++) indices[i] = i;
    } else {
      indices = Int32Array.from(options.indices);
      for (let k = 0; k < indices.length; k++) {
        const i = indices[k]!;
        if (i < 0 || i >= count || i !== options.indices[k]) {
          throw new DataError('BAD_ARGUMENT', `indices[${k}]: expected an integer in [0, ${count}), got ${options.indices[k]}`);
        }
      }
    }
    this.batchSize = options.batchSize;
    this.seed = seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? true;
    this.augment = options.augment ?? null;
    this.prefetch = options.prefetch ?? true;
    this.indices = indices;
    this.indicesCrc32 = crc32(new Uint8Array(indices.buffer, indices.byteOffset, indices.byteLength)) >>> 0;
    if (this.augment) checkAugmentSpec(this.augment, shape);
    const out = this.augment ? augmentedShape(this.augment, shape) : shape;
    this.height = out.height;
    this.width = out.width;
    this.channels = out.channels;
    this.batchesPerEpoch = this.dropLast ? Math.floor(indices.length / this.batchSize) : Math.ceil(indices.length / this.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new DataError(
        'BAD_ARGUMENT',
        `batchSize: ${this.batchSize} is larger than the ${indices.length} images and dropLast is on, so an epoch has no batch`,
      );
    }
  }

  /** Number of images iterated over per epoch (before dropping the last partial batch). */
  get size(): number {
    return this.indices.length;
  }

  /** The order of dataset indices in `epoch` (a pure function of seed and epoch). */
  orderOf(epoch: number): Int32Array {
    if (this.orderCache?.epoch === epoch) return this.orderCache.order;
    const order = this.indices.slice();
    if (this.shuffle) new Rng(this.seed, ORDER_STREAM, epoch).shuffle(order);
    this.orderCache = { epoch, order };
    return order;
  }

  /** Dataset indices of batch `index` of `epoch`, checked. */
  protected batchIndices(epoch: number, index: number): Int32Array {
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(index) || index < 0 || index >= this.batchesPerEpoch) {
      throw new DataError('BAD_ARGUMENT', `batch position: expected epoch >= 0 and index in [0, ${this.batchesPerEpoch}), got ${epoch}, ${index}`);
    }
    const order = this.orderOf(epoch);
    return order.slice(index * this.batchSize, Math.min(order.length, (index + 1) * this.batchSize));
  }

  /** The augmentation stream of batch `index` of `epoch`. */
  protected augmentRng(epoch: number, index: number): Rng {
    return new Rng(this.seed, AUGMENT_STREAM, epoch, index);
  }

  /** Moves the cursor one batch on (into the next epoch after the last batch). */
  protected advance(): void {
    this.index++;
    if (this.index === this.batchesPerEpoch) {
      this.index = 0;
      this.epoch++;
    }
  }

  abstract next(): Promise<Batch>;

  /** The remaining batches of the current epoch. */
  async *epochBatches(): AsyncGenerator<Batch> {
    const epoch = this.epoch;
    while (this.epoch === epoch) yield await this.next();
  }

  /** The position of the next batch next() returns, JSON-able. */
  state(): LoaderState {
    return {
      version: 1,
      rngStreams: RNG_STREAMS,
      seed: this.seed,
      epoch: this.epoch,
      index: this.index,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      size: this.indices.length,
      indicesCrc32: this.indicesCrc32,
    };
  }

  /** Checks a saved position against this loader and moves the cursor there. */
  protected restoreCursor(state: LoaderState): void {
    if (state === null || typeof state !== 'object' || state.version !== 1) {
      throw new DataError('LOADER_STATE', `loader state: expected an object with version 1, got ${JSON.stringify(state)}`);
    }
    const streams = rngStreamsMismatch((state as Partial<LoaderState>).rngStreams);
    if (streams !== null) throw new DataError('LOADER_STATE', `loader state: ${streams}; start the run again instead of resuming it`);
    const mine = this.state();
    for (const k of ['seed', 'batchSize', 'shuffle', 'dropLast', 'size', 'indicesCrc32'] as const) {
      if (state[k] !== mine[k]) {
        throw new DataError('LOADER_STATE', `loader state: ${k} is ${JSON.stringify(state[k])}, this loader has ${JSON.stringify(mine[k])}`);
      }
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.index) || state.index < 0 || state.index >= this.batchesPerEpoch) {
      throw new DataError('LOADER_STATE', `loader state: position epoch ${state.epoch}, index ${state.index} is outside [0, ${this.batchesPerEpoch}) batches per epoch`);
    }
    this.epoch = state.epoch;
    this.index = state.index;
  }
}

export class BatchLoader extends LoaderCursor implements TrainingLoader {
  readonly dataset: Dataset;

  private pending: { epoch: number; index: number; cancelled: boolean; promise: Promise<Batch> } | undefined;

  constructor(dataset: Dataset, options: LoaderOptions) {
    validateDataset(dataset);
    super(datasetSize(dataset), { height: dataset.height, width: dataset.width, channels: dataset.channels }, options);
    this.dataset = dataset;
  }

  /** Builds batch `index` of `epoch` (synchronously; pure function of the position). */
  batchAt(epoch: number, index: number): Batch {
    const which = this.batchIndices(epoch, index);
    const ds = this.dataset;
    const labels = new Int32Array(which.length);
    for (let k = 0; k < which.length; k++) labels[k] = ds.labels[which[k]!]!;
    const shape = { height: ds.height, width: ds.width, channels: ds.channels };
    const spec = this.augment ?? { crop: 'none' as const, flip: false };
    const images = augmentGather(ds.images, which, shape, spec, this.augmentRng(epoch, index));
    return {
      images,
      labels,
      count: which.length,
      height: this.height,
      width: this.width,
      channels: this.channels,
      indices: which,
      epoch,
      index,
    };
  }

  /** The next batch; with prefetch on, the one after it starts being built once the event loop is free. */
  next(): Promise<Batch> {
    const { epoch, index } = this;
    let result: Promise<Batch>;
    if (this.pending && this.pending.epoch === epoch && this.pending.index === index) {
      result = this.pending.promise;
    } else {
      try {
        result = Promise.resolve(this.batchAt(epoch, index));
      } catch (err) {
        result = Promise.reject(err);
      }
    }
    this.pending = undefined;
    this.advance();
    if (this.prefetch) {
      const job = { epoch: this.epoch, index: this.index, cancelled: false, promise: undefined as unknown as Promise<Batch> };
      job.promise = new Promise<Batch>((resolve, reject) => {
        setImmediate(() => {
          if (job.cancelled) {
            reject(new DataError('LOADER_STATE', 'prefetch cancelled by restore()'));
            return;
          }
          try {
            resolve(this.batchAt(job.epoch, job.index));
          } catch (err) {
            reject(err);
          }
        });
      });
      job.promise.catch(() => undefined); // surfaced when awaited, never as an unhandled rejection
      this.pending = job;
    }
    return result;
  }

  /** Resumes at a saved position; the loader must have been built with the same data and options. */
  restore(state: LoaderState): void {
    this.restoreCursor(state);
    if (this.pending) this.pending.cancelled = true;
    this.pending = undefined;
  }

  async close(): Promise<void> {
    if (this.pending) this.pending.cancelled = true;
    this.pending = undefined;
  }
}
