// A worker thread of the decode pool (src/data/decode-pool.ts): for each task it produces a run
// of images, each either decoded from its file with sharp (the decode of src/data/image-folder.ts,
// so the pixels equal the in-memory path's) or read as a record of a decoded-tensor cache file,
// applies the augmentation choices the main thread drew for it, and posts the tensor back
// (transferred, not copied). Images are handled one after the other: one worker keeps at most one
// decode in flight, so the pool's size is the number of threads it keeps busy.
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { applyAugmentation } from './augment.js';
import { decodeImage } from './image-folder.js';
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

async function run(task: DecodeTask): Promise<Uint8Array> {
  const { height, width, channels } = task.shape;
  const inSize = height * width * channels;
  const outSize = task.augment ? task.outShape.height * task.outShape.width * channels : inSize;
  const out = new Uint8Array(task.items.length * outSize);
  const scratch = task.augment ? new Uint8Array(inSize) : null;
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
      const img = await decodeImage(item.file, { size: { height, width }, fit: task.fit, channels: channels as 1 | 3 });
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
