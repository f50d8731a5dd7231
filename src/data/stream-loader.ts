// The streaming batch loader: BatchLoader's batches (same order, same augmentation, same state)
// over an ImageFolderStream, each batch decoded and augmented by the decode pool's worker threads
// while the consumer trains on an earlier one.
//
// Exactness: the order comes from LoaderCursor (the same function of seed and epoch as
// BatchLoader's) and the augmentation choices of a batch are drawn on the main thread from the
// batch's own stream (drawAugmentations, the same draws augmentGather makes), then applied in the
// workers; the decode is the in-memory path's. So a stream and an in-memory load of one folder
// give identical batches, and state() / restore() are BatchLoader's, interchangeable with it.
//
// Memory: at most `prefetchBatches` batches are being built ahead of the consumer, plus the one
// it awaits; imagesInFlight counts their images (decoding, or decoded and waiting) and never
// exceeds (prefetchBatches + 1) x batchSize, whatever the size of the folder.
import { drawAugmentations } from './augment.js';
import { DecodePool, defaultDecodeWorkers } from './decode-pool.js';
import { isStream, streamTask, type ImageFolderStream, type ImageSet } from './folder-stream.js';
import { BatchLoader, LoaderCursor, type Batch, type LoaderOptions, type LoaderState, type TrainingLoader } from './loader.js';
import { DataError } from './types.js';

export interface StreamLoaderOptions extends LoaderOptions {
  /** Worker threads (default defaultDecodeWorkers()). Ignored when `pool` is given. */
  workers?: number;
  /** A pool to share (the loader then does not close it). */
  pool?: DecodePool;
  /** Batches built ahead of the consumer (default 2; 0 with prefetch off). */
  prefetchBatches?: number;
}

interface Job {
  epoch: number;
  index: number;
  count: number;
  promise: Promise<Batch>;
}

export class StreamingLoader extends LoaderCursor implements TrainingLoader {
  readonly stream: ImageFolderStream;
  readonly prefetchBatches: number;
  /** Images of batches started and not yet handed to the consumer. */
  imagesInFlight = 0;
  /** The largest imagesInFlight seen. */
  peakImagesInFlight = 0;

  private readonly pool: DecodePool;
  private readonly ownsPool: boolean;
  private queue: Job[] = [];
  private closed = false;

  constructor(stream: ImageFolderStream, options: StreamLoaderOptions) {
    super(stream.files.length, { height: stream.height, width: stream.width, channels: stream.channels }, options);
    this.stream = stream;
    const depth = this.prefetch ? (options.prefetchBatches ?? 2) : 0;
    if (!Number.isInteger(depth) || depth < 0) throw new DataError('BAD_ARGUMENT', `prefetchBatches: expected a non-negative integer, got ${String(options.prefetchBatches)}`);
    this.prefetchBatches = depth;
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? new DecodePool(options.workers ?? defaultDecodeWorkers());
  }

  /** Builds batch `index` of `epoch` in the workers (a pure function of the position). */
  async batchAt(epoch: number, index: number): Promise<Batch> {
    const which = this.batchIndices(epoch, index);
    const s = this.stream;
    const shape = { height: s.height, width: s.width, channels: s.channels };
    const count = which.length;
    const labels = new Int32Array(count);
    for (let k = 0; k < count; k++) labels[k] = s.labels[which[k]!]!;
    const draws = this.augment ? drawAugmentations(this.augment, shape, count, this.augmentRng(epoch, index)) : null;
    const outSize = this.height * this.width * this.channels;
    const per = Math.ceil(count / this.pool.size);
    const parts: Array<Promise<Uint8Array>> = [];
    for (let start = 0; start < count; start += per) {
      const end = Math.min(count, start + per);
      const task = streamTask(s, which, start, end);
      task.augment = this.augment;
      task.outShape = { height: this.height, width: this.width, channels: this.channels };
      task.draws = draws ? draws.slice(start, end) : null;
      parts.push(this.pool.run(task));
    }
    const images = new Uint8Array(count * outSize);
    const done = await Promise.all(parts);
    for (let p = 0; p < done.length; p++) images.set(done[p]!, p * per * outSize);
    return { images, labels, count, height: this.height, width: this.width, channels: this.channels, indices: which, epoch, index };
  }

  private start(epoch: number, index: number): Job {
    const count = Math.min(this.batchSize, this.size - index * this.batchSize);
    this.imagesInFlight += count;
    this.peakImagesInFlight = Math.max(this.peakImagesInFlight, this.imagesInFlight);
    const promise = this.batchAt(epoch, index);
    promise.catch(() => undefined); // surfaced when awaited, never as an unhandled rejection
    return { epoch, index, count, promise };
  }

  /** Releases a job's images from the in-flight count once it has settled. */
  private release(job: Job): void {
    void job.promise.then(
      () => (this.imagesInFlight -= job.count),
      () => (this.imagesInFlight -= job.count),
    );
  }

  /** The next batch; up to prefetchBatches after it are started in the workers. */
  next(): Promise<Batch> {
    if (this.closed) return Promise.reject(new DataError('LOADER_STATE', 'loader is closed'));
    const { epoch, index } = this;
    let job = this.queue[0];
    if (job && job.epoch === epoch && job.index === index) this.queue.shift();
    else {
      for (const j of this.queue) this.release(j);
      this.queue = [];
      job = this.start(epoch, index);
    }
    this.advance();
    // Top up the queue with the positions that follow.
    let e = this.epoch;
    let i = this.index;
    for (const j of this.queue) [e, i] = j.index + 1 === this.batchesPerEpoch ? [j.epoch + 1, 0] : [j.epoch, j.index + 1];
    while (this.queue.length < this.prefetchBatches) {
      this.queue.push(this.start(e, i));
      [e, i] = i + 1 === this.batchesPerEpoch ? [e + 1, 0] : [e, i + 1];
    }
    const current = job;
    return current.promise.finally(() => (this.imagesInFlight -= current.count));
  }

  /** Resumes at a saved position; batches built ahead are dropped. */
  restore(state: LoaderState): void {
    this.restoreCursor(state);
    for (const j of this.queue) this.release(j);
    this.queue = [];
  }

  /** Drops the batches built ahead and ends the worker threads (when the loader made its pool). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.queue) this.release(j);
    this.queue = [];
    if (this.ownsPool) await this.pool.close();
  }
}

/** The loader for a set: BatchLoader in memory, StreamingLoader (on `pool` when given) for a stream. */
export function createLoader(set: ImageSet, options: StreamLoaderOptions): TrainingLoader {
  return isStream(set) ? new StreamingLoader(set, options) : new BatchLoader(set, options);
}
