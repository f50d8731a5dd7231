// A small pool of worker threads (src/data/decode-worker.ts) that decode and augment images off
// the main thread. Tasks go to the worker with the fewest queued images; each worker handles its
// tasks in order. Workers start on the first task and hold the process open only while they have
// work: an idle pool is unref'd, so a program that forgets close() still exits, and one that
// awaits a batch is not cut short. close() ends every worker.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AugmentDraw, AugmentSpec, ImageShape } from './augment.js';
import { DataError, isPositiveInt, type DataErrorCode } from './types.js';

/** One run of images for one worker: files (or cache records), decoded to `shape`, then augmented. */
export interface DecodeTask {
  id: number;
  /** The stored (decoded, resized) shape. */
  shape: ImageShape;
  fit: 'cover' | 'fill';
  /** Shape after augmentation (equal to `shape` without one). */
  outShape: ImageShape;
  augment: AugmentSpec | null;
  /** One draw per item when `augment` is set. */
  draws: AugmentDraw[] | null;
  items: Array<{ file: string; record: number }>;
  /** Read records of this decoded-tensor cache file instead of decoding the files. */
  cache: { file: string; imagesOffset: number } | null;
}

export type DecodeReply =
  | { id: number; images: Uint8Array; error?: undefined }
  | { id: number; images?: undefined; error: { code: DataErrorCode; message: string; file: string | undefined } };

/** Worker threads for a thread budget: half of it (the engine takes the rest), 1 to 4. */
export function defaultDecodeWorkers(threads = 0): number {
  const t = threads > 0 ? threads : os.availableParallelism();
  return Math.max(1, Math.min(4, Math.round(t / 2)));
}

interface Slot {
  worker: Worker;
  queuedImages: number;
  tasks: number;
}

export class DecodePool {
  readonly size: number;
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { slot: Slot; count: number; resolve: (a: Uint8Array) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(size: number) {
    if (!isPositiveInt(size)) throw new DataError('BAD_ARGUMENT', `workers: expected a positive integer, got ${String(size)}`);
    this.size = size;
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(new URL('./decode-worker.js', import.meta.url));
      const slot: Slot = { worker, queuedImages: 0, tasks: 0 };
      worker.unref();
      let crash: Error | undefined;
      worker.on('message', (reply: DecodeReply) => this.settle(reply));
      worker.on('error', (err) => (crash = err));
      // A worker that died (it should not: decode errors are replies) fails its tasks and leaves
      // the pool; the next task starts a fresh set of workers when none is left.
      worker.on('exit', (code) => {
        if (this.closed) return;
        this.slots = this.slots.filter((x) => x !== slot);
        this.failSlot(slot, crash ?? new Error(`decode worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  private settle(reply: DecodeReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    this.release(w.slot, w.count);
    if (reply.error) w.reject(new DataError(reply.error.code, reply.error.message, reply.error.file === undefined ? undefined : { file: reply.error.file }));
    else w.resolve(reply.images);
  }

  private release(slot: Slot, count: number): void {
    slot.queuedImages -= count;
    slot.tasks--;
    if (slot.tasks === 0) slot.worker.unref();
  }

  private failSlot(slot: Slot, err: Error): void {
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      this.release(slot, w.count);
      w.reject(new DataError('IMAGE_DECODE', `decode worker failed: ${err.message}`, { cause: err }));
    }
  }

  /** Runs one task on the least-loaded worker; resolves with its images (NHWC uint8). */
  run(task: Omit<DecodeTask, 'id'>): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new DataError('LOADER_STATE', 'decode pool is closed'));
    if (this.slots.length === 0) this.start();
    const slot = this.slots.reduce((a, b) => (b.queuedImages < a.queuedImages ? b : a));
    const id = this.nextId++;
    const count = task.items.length;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.waiting.set(id, { slot, count, resolve, reject });
      slot.queuedImages += count;
      if (slot.tasks++ === 0) slot.worker.ref();
      slot.worker.postMessage({ ...task, id } satisfies DecodeTask);
    });
  }

  /** Ends every worker (after the tasks already sent); later run() calls are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    await Promise.all(
      slots.map(async (s) => {
        const exited = new Promise<void>((res) => s.worker.once('exit', () => res()));
        s.worker.ref();
        s.worker.postMessage({ close: true });
        const timer = setTimeout(() => void s.worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(new DataError('LOADER_STATE', 'decode pool closed before the task finished'));
    }
  }
}
