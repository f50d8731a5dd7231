// The streaming image-folder loader: the same batches as the in-memory loader for the same seed
// (order and augmentation, over two epochs), exact resumption mid-epoch from a saved state (also
// from a state the in-memory loader saved), a bounded number of images in flight whatever the
// folder's size, the decoded-tensor cache (built by the stream, read back; the in-memory path's
// file reused), a corrupt JPEG named in the error, and worker threads that end (the process exits
// with and without close()).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { BatchLoader, type Batch, type LoaderOptions } from '../src/data/loader.js';
import { attachStreamCache, chooseFolderMode, loadStream, openImageFolderStream, subsetStream } from '../src/data/folder-stream.js';
import { DecodePool } from '../src/data/decode-pool.js';
import { loadImageFolder } from '../src/data/image-folder.js';
import { StreamingLoader } from '../src/data/stream-loader.js';
import { DataError } from '../src/data/types.js';
import { packageRoot } from '../src/util/package-root.js';

const root = mkdtempSync(join(tmpdir(), 'gnas-stream-'));
const pool = new DecodePool(2);
after(() => pool.close());

/** A folder of `perClass` JPEGs in each of 3 classes, of varied sizes, pixels from a simple hash. */
async function makeFolder(name: string, perClass: number): Promise<string> {
  const dir = join(root, name);
  for (let c = 0; c < 3; c++) {
    mkdirSync(join(dir, `class${c}`), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const w = 20 + ((i * 7) % 13);
      const h = 18 + ((i * 5) % 11);
      const px = Buffer.alloc(w * h * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k * 31 + i * 17 + c * 89 + ((k * k) >> 3)) & 255;
      await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(dir, `class${c}`, `img${String(i).padStart(3, '0')}.jpg`));
    }
  }
  return dir;
}

const summary = (b: Batch) => `${b.epoch}:${b.index}:${Array.from(b.indices).join(',')}:${Buffer.from(b.labels.buffer).toString('base64')}:${Buffer.from(b.images).toString('base64')}`;

async function take(loader: { next(): Promise<Batch> }, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(summary(await loader.next()));
  return out;
}

const folder = await makeFolder('small', 14);
const decode = { size: { height: 16, width: 16 }, channels: 3 as const, cacheDir: false as const };

for (const [name, augment] of [
  ['random-resized-crop + flip', { crop: 'resized', size: { height: 12, width: 12 }, flip: true }],
  ['pad-crop + flip', { crop: 'pad', pad: 2, flip: true }],
  ['none', null],
] as const) {
  test(`streaming and in-memory loaders give identical batches for the same seed (${name}), two epochs`, async () => {
    const mem = (await loadImageFolder(folder, decode)).dataset;
    const stream = await openImageFolderStream(folder, decode);
    assert.equal(stream.files.length, 42);
    assert.deepEqual(stream.labels, mem.labels);
    const options: LoaderOptions = { batchSize: 8, seed: 5, augment, dropLast: false };
    const a = new BatchLoader(mem, options);
    const b = new StreamingLoader(stream, { ...options, pool });
    assert.equal(b.batchesPerEpoch, a.batchesPerEpoch);
    const n = 2 * a.batchesPerEpoch + 1;
    const [x, y] = [await take(a, n), await take(b, n)];
    assert.deepEqual(y, x);
    // The decoded images themselves are the in-memory tensor, byte for byte.
    assert.deepEqual(Buffer.from((await loadStream(stream, pool)).images), Buffer.from(mem.images));
    await b.close();
  });
}

test('resume mid-epoch from a saved state gives the same following batches (a stream state, and an in-memory one)', async () => {
  const stream = await openImageFolderStream(folder, decode);
  const options: LoaderOptions = { batchSize: 6, seed: 11, augment: { crop: 'resized', size: { height: 16, width: 16 }, flip: true } };
  const whole = new StreamingLoader(stream, { ...options, pool });
  const all = await take(whole, 12);
  const first = new StreamingLoader(stream, { ...options, pool });
  await take(first, 4);
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.equal(saved.index, 4);
  const resumed = new StreamingLoader(stream, { ...options, pool });
  resumed.restore(saved);
  assert.deepEqual(await take(resumed, 8), all.slice(4));
  // restore() on a loader with batches built ahead drops them and restarts at the position.
  first.restore({ ...saved, index: 1 });
  assert.deepEqual(await take(first, 3), all.slice(1, 4));
  // A state saved by the in-memory loader resumes the streaming one (checkpoints are interchangeable).
  const mem = new BatchLoader((await loadImageFolder(folder, decode)).dataset, options);
  await take(mem, 9);
  const fromMem = new StreamingLoader(stream, { ...options, pool });
  fromMem.restore(mem.state());
  assert.deepEqual(await take(fromMem, 3), all.slice(9, 12));
});

test('images in flight never exceed (prefetchBatches + 1) x batchSize, for a small and a 5x larger folder', async () => {
  const big = await makeFolder('big', 70);
  for (const dir of [folder, big]) {
    const stream = await openImageFolderStream(dir, decode);
    const loader = new StreamingLoader(stream, { batchSize: 4, seed: 1, prefetchBatches: 3, pool, augment: { crop: 'pad', pad: 1, flip: true } });
    let maxSeen = 0;
    for (let i = 0; i < 20; i++) {
      maxSeen = Math.max(maxSeen, loader.imagesInFlight);
      await loader.next();
      maxSeen = Math.max(maxSeen, loader.imagesInFlight);
      await new Promise((r) => setTimeout(r, 2)); // a consumer's step: the queue fills meanwhile
    }
    assert.ok(loader.peakImagesInFlight <= 16, `${dir}: peak ${loader.peakImagesInFlight} images in flight, bound 16`);
    assert.ok(loader.peakImagesInFlight >= 8, `${dir}: the queue should run ahead (peak ${loader.peakImagesInFlight})`);
    assert.ok(maxSeen <= 16);
    await loader.close();
    assert.equal(loader.imagesInFlight <= 16, true);
  }
});

test('decoded-tensor cache: built by the stream and read back as records; the in-memory path reuses the file and vice versa', async () => {
  const cacheDir = join(root, 'cache');
  const stream = await openImageFolderStream(folder, decode);
  const built = await attachStreamCache(stream, pool, cacheDir);
  assert.equal(built.status, 'built');
  assert.ok(built.stream.cache);
  const options: LoaderOptions = { batchSize: 8, seed: 3, augment: { crop: 'resized', size: { height: 16, width: 16 }, flip: true } };
  const fromFiles = await take(new StreamingLoader(stream, { ...options, pool }), 6);
  const fromCache = await take(new StreamingLoader(built.stream, { ...options, pool }), 6);
  assert.deepEqual(fromCache, fromFiles);
  // A subset of a cached stream reads the right records.
  const sub = [5, 40, 0, 17];
  assert.deepEqual((await loadStream(subsetStream(built.stream, sub), pool)).images, (await loadStream(subsetStream(stream, sub), pool)).images);
  // The in-memory loader finds the stream's file current, and the stream finds it again.
  const mem = await loadImageFolder(folder, { ...decode, cacheDir });
  assert.equal(mem.cache.status, 'hit');
  assert.equal((await attachStreamCache(stream, pool, cacheDir)).status, 'hit');
});

test('a corrupt JPEG fails the batch with an error naming the file and the fix', async () => {
  const dir = await makeFolder('corrupt', 4);
  const bad = join(dir, 'class1', 'img002.jpg');
  const jpeg = await sharp(Buffer.alloc(20 * 20 * 3, 90), { raw: { width: 20, height: 20, channels: 3 } }).jpeg().toBuffer();
  writeFileSync(bad, jpeg.subarray(0, jpeg.length - 60));
  const stream = await openImageFolderStream(dir, decode);
  const loader = new StreamingLoader(stream, { batchSize: 12, seed: 0, pool });
  await assert.rejects(loader.next(), (err: unknown) => {
    assert.ok(err instanceof DataError, String(err));
    assert.equal(err.code, 'IMAGE_DECODE');
    assert.equal(err.file, bad);
    assert.ok(err.message.includes(bad) && /replace the file/.test(err.message), err.message);
    return true;
  });
});

// The corrupt file fails at once while the decode before it in the worker (a large PNG, on libuv's
// pool) is still running: its failure must wait for its turn, not end the worker as an unhandled
// rejection (which loses the file's name).
test('a corrupt file that fails while an earlier decode is in flight fails the batch naming the file', async () => {
  const dir = join(root, 'corrupt-png');
  for (let c = 0; c < 3; c++) {
    mkdirSync(join(dir, `class${c}`), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = Buffer.alloc(480 * 400 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k * 2654435761 + c * 977 + i * 131) >>> 24;
      await sharp(px, { raw: { width: 480, height: 400, channels: 3 } }).png({ compressionLevel: 1 }).toFile(join(dir, `class${c}`, `img${i}.png`));
    }
  }
  // Three bad files in one worker's run of 12 (a pool of one), so that one of them follows a
  // large PNG still decoding.
  const bad = [join(dir, 'class0', 'img2.png'), join(dir, 'class1', 'img1.png'), join(dir, 'class2', 'img3.png')];
  for (const f of bad) writeFileSync(f, Buffer.from('not an image at all'));
  const stream = await openImageFolderStream(dir, decode);
  const onePool = new DecodePool(1);
  after(() => onePool.close());
  const loader = new StreamingLoader(stream, { batchSize: 12, seed: 0, pool: onePool });
  await assert.rejects(loader.next(), (err: unknown) => {
    assert.ok(err instanceof DataError, String(err));
    assert.equal(err.code, 'IMAGE_DECODE');
    assert.ok(err.file !== undefined && bad.includes(err.file), `the error names no bad file: ${err.message}`);
    assert.ok(err.message.includes(err.file) && /replace the file/.test(err.message), err.message);
    return true;
  });
});

test('the mode choice: in memory under the budget, streamed over it, or forced', () => {
  assert.equal(chooseFolderMode('auto', 100, 1000).mode, 'memory');
  assert.equal(chooseFolderMode('auto', 2000, 1000).mode, 'stream');
  assert.match(chooseFolderMode('auto', 2000, 1000).reason, /exceeds the memory budget/);
  assert.equal(chooseFolderMode('memory', 2000, 1000).mode, 'memory');
  assert.equal(chooseFolderMode('stream', 1, 1000).mode, 'stream');
  assert.throws(() => chooseFolderMode('fast' as 'auto', 1), DataError);
});

test('worker threads end: a process that reads batches exits, with close() and without it', () => {
  const mod = (f: string) => JSON.stringify(join(packageRoot(), '.test-build', 'src', 'data', f));
  for (const closeIt of [true, false]) {
    const script = `
      import { openImageFolderStream } from ${mod('folder-stream.js')};
      import { StreamingLoader } from ${mod('stream-loader.js')};
      const s = await openImageFolderStream(${JSON.stringify(folder)}, { size: 16, cacheDir: false });
      const l = new StreamingLoader(s, { batchSize: 8, seed: 1, workers: 2 });
      let n = 0;
      for (let i = 0; i < 3; i++) n += (await l.next()).count;
      ${closeIt ? 'await l.close();' : ''}
      console.log('read ' + n);
    `;
    const file = join(root, `exit-${closeIt}.mjs`);
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.error, undefined, `close=${closeIt}: ${String(r.error)}`);
    assert.equal(r.status, 0, `close=${closeIt}: ${r.stderr}`);
    assert.match(r.stdout, /read 24/);
  }
});
