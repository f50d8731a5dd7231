// A worker thread of the decode pool (src/data/decode-pool.ts): for each task it produces a run
// of images, each either decoded from its file (decodeImageBytes of src/data/image-folder.ts, so
// the pixels equal the in-memory path's) or read as a record of a decoded-tensor cache file,
// applies the augmentation choices the main thread drew for it, and posts the tensor back
// (transferred, not copied).
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { applyAugmentation } from './augment.js';
import { decodeImageBytes, type DecodedImage, type DecodeSpec } from './image-folder.js';
import { DataError } from './types.js';
import type { DecodeTask, DecodeReply } from './decode-pool.js';

// One libvips thread per image: the pool's parallelism is its workers, not threads inside a decode.
sharp.concurrency(1);
sharp.cache(false);

const cacheFds = new Map<string, number>();

function cacheFd(file: string): number {
  let fd = cacheFds.get(file);
  if (fd === undefined) {
    fd = openSync(file, 'r');
    cacheFds.set(file, fd);
  }
  return fd;
}

/**
 * Decodes in flight per worker: a JPEG decodes on this thread (natively, at once), but a file that
 * sharp decodes runs on libuv's pool, and meanwhile this thread reads and decodes the next ones.
 */
const DECODES_IN_FLIGHT = 2;

/** One file read and decoded, synchronously where it can be: this thread has nothing else to do, and a sync read costs ~0.5 ms less CPU than fs/promises' readFile. */
function decodeFile(file: string, spec: DecodeSpec): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return Promise.reject(new DataError('IMAGE_DECODE', `${file}: cannot read image: ${(err as Error).message}`, { file, cause: err }));
  }
  return decodeImageBytes(bytes, file, spec, 'sync');
}

async function run(task: DecodeTask): Promise<Uint8Array> {
  const { height, width, channels } = task.shape;
  const inSize = height * width * channels;
  const outSize = task.augment ? task.outShape.height * task.outShape.width * channels : inSize;
  const out = new Uint8Array(task.items.length * outSize);
  const scratch = task.augment ? new Uint8Array(inSize) : null;
  const spec: DecodeSpec = { size: { height, width }, fit: task.fit, channels: channels as 1 | 3 };
  // Decodes started ahead, in item order; each is awaited in turn, so the output order is the task's.
  const pending: Array<Promise<DecodedImage>> = [];
  const startDecode = (n: number): void => {
    if (task.cache || n >= task.items.length) return;
    const decoding = decodeFile(task.items[n]!.file, spec);
    // Handled from the start: a decode that fails (on libuv's pool) while an earlier one is still
    // awaited must not count as an unhandled rejection, which would end this worker and lose the
    // file's name; its error reaches the task when its turn comes.
    decoding.catch(() => undefined);
    pending.push(decoding);
  };
  for (let n = 0; n < DECODES_IN_FLIGHT; n++) startDecode(n);
  for (let n = 0; n < task.items.length; n++) {
    const item = task.items[n]!;
    const dst = out.subarray(n * outSize, (n + 1) * outSize);
    const src = scratch ?? dst;
    if (task.cache) {
      const offset = task.cache.imagesOffset + item.record * inSize;
      const got = readSync(cacheFd(task.cache.file), src, 0, inSize, offset);
      if (got !== inSize) {
        throw new DataError('IMAGE_DECODE', `${task.cache.file}: short read of record ${item.record} (the cache file changed while in use); delete it to rebuild`, { file: task.cache.file });
      }
    } else {
      const decoding = pending.shift()!;
      startDecode(n + DECODES_IN_FLIGHT);
      const img = await decoding;
      if (img.height !== height || img.width !== width || img.data.length !== inSize) {
        throw new DataError('IMAGE_SIZE_MISMATCH', `${item.file}: decoded to ${img.width}x${img.height}, expected ${width}x${height}`, { file: item.file });
      }
      src.set(img.data);
    }
    if (task.augment) applyAugmentation(dst, src, task.shape, task.augment, task.draws![n]!);
  }
  return out;
}

parentPort!.on('message', (task: DecodeTask | { close: true }) => {
  if ('close' in task) {
    for (const fd of cacheFds.values()) closeSync(fd);
    cacheFds.clear();
    parentPort!.close();
    return;
  }
  run(task).then(
    (images) => parentPort!.postMessage({ id: task.id, images } satisfies DecodeReply, [images.buffer as ArrayBuffer]),
    (err: unknown) => {
      const e = err as Partial<DataError> & Error;
      const reply: DecodeReply = { id: task.id, error: { code: e.code ?? 'IMAGE_DECODE', message: e.message ?? String(err), file: e.file } };
      parentPort!.postMessage(reply);
    },
  );
});
