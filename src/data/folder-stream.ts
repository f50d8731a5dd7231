// Image folders too large to decode into memory (ImageNet's 1.28M images): an ImageFolderStream
// is the folder's file list and labels plus the decode options; its images are decoded on demand
// by the decode pool's worker threads (src/data/decode-pool.ts), with the same sharp pipeline as
// the in-memory path (src/data/image-folder.ts), so a stream and an in-memory load of the same
// folder give the same bytes. Optionally the decoded, resized tensors go to the decoded-tensor
// cache file of src/data/tensor-cache.ts, the very file (same name, key and format) the in-memory
// path writes and reads: a stream then reads fixed-size records from it instead of decoding.
//
// chooseFolderMode() decides between the two paths: in memory while the decoded set fits a
// budget (faster: no decode per epoch), streamed beyond it.
import os from 'node:os';
import path from 'node:path';
import type { DecodePool, DecodeTask } from './decode-pool.js';
import { defaultCacheDir, fingerprint, listClassFolders, normalizeSize, scanFolder, type ImageFolderOptions } from './image-folder.js';
import { DatasetCacheWriter, openDatasetCacheRecords } from './tensor-cache.js';
import { DataError, isPositiveInt, subsetDataset, type Dataset } from './types.js';

/** A labelled image folder whose images are decoded when read. */
export interface ImageFolderStream {
  kind: 'image-folder-stream';
  /** The split folder (<dir>/<class>/<image>). */
  dir: string;
  /** Absolute path of every image, in dataset order (label, then name). */
  files: string[];
  labels: Int32Array;
  /** Decoded (stored) shape of every image. */
  height: number;
  width: number;
  channels: 1 | 3;
  classes: number;
  classNames: string[];
  fit: 'cover' | 'fill';
  /** Name and key of the folder's decoded-tensor cache file (shared with the in-memory path). */
  cacheName: string;
  cacheKey: string;
  /** When set, images are read from this cache file: image i is record records[i]. */
  cache: { file: string; imagesOffset: number; records: Int32Array } | null;
}

/** A data set held in memory or streamed from its folder. */
export type ImageSet = Dataset | ImageFolderStream;

export function isStream(x: ImageSet): x is ImageFolderStream {
  return (x as ImageFolderStream).kind === 'image-folder-stream';
}

/** Number of images of a set. */
export function imageCount(x: ImageSet): number {
  return x.labels.length;
}

export type FolderMode = 'auto' | 'memory' | 'stream';

/** Default budget of the decoded training set kept in memory: a quarter of the RAM, at most 4 GiB. */
export function defaultMemoryBudget(): number {
  return Math.min(4 * 2 ** 30, Math.floor(os.totalmem() / 4));
}

/** 'memory' or 'stream' for `bytes` of decoded images, and why (for the log). */
export function chooseFolderMode(mode: FolderMode, bytes: number, budget = defaultMemoryBudget()): { mode: 'memory' | 'stream'; reason: string } {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (mode === 'memory' || mode === 'stream') return { mode, reason: `forced (decoded set ${gib(bytes)})` };
  if (mode !== 'auto') throw new DataError('BAD_ARGUMENT', `mode: expected 'auto', 'memory' or 'stream', got ${String(mode)}`);
  return bytes > budget
    ? { mode: 'stream', reason: `decoded set ${gib(bytes)} exceeds the memory budget of ${gib(budget)}` }
    : { mode: 'memory', reason: `decoded set ${gib(bytes)} fits the memory budget of ${gib(budget)}` };
}

/**
 * Lists a split folder as a stream (no image is decoded). `size` is required: streamed images
 * have one shape. The options mean what they mean for loadImageFolder.
 */
export async function openImageFolderStream(dir: string, options: ImageFolderOptions): Promise<ImageFolderStream> {
  const size = normalizeSize(options.size);
  if (size === undefined) throw new DataError('BAD_ARGUMENT', 'size: a streamed image folder needs a target size');
  const fit = options.fit ?? 'cover';
  const channels = options.channels ?? 3;
  if (fit !== 'cover' && fit !== 'fill') throw new DataError('BAD_ARGUMENT', `fit: expected 'cover' or 'fill', got ${String(fit)}`);
  if (channels !== 1 && channels !== 3) throw new DataError('BAD_ARGUMENT', `channels: expected 1 or 3, got ${String(channels)}`);
  if (options.limitPerClass !== undefined && !isPositiveInt(options.limitPerClass)) {
    throw new DataError('BAD_ARGUMENT', `limitPerClass: expected a positive integer, got ${options.limitPerClass}`);
  }
  const classes = options.classes ? [...options.classes] : await listClassFolders(dir);
  const files = await scanFolder(dir, classes, options.limitPerClass, options.concurrency ?? 8);
  const { key, name } = fingerprint(dir, { size, fit, channels }, classes, options.limitPerClass, files);
  return {
    kind: 'image-folder-stream',
    dir,
    files: files.map((f) => path.join(dir, f.rel)),
    labels: Int32Array.from(files, (f) => f.label),
    height: size.height,
    width: size.width,
    channels,
    classes: classes.length,
    classNames: classes,
    fit,
    cacheName: name,
    cacheKey: key,
    cache: null,
  };
}

/** The images at `indices`, in that order, as a stream (nothing decoded). */
export function subsetStream(s: ImageFolderStream, indices: ArrayLike<number>): ImageFolderStream {
  const n = s.files.length;
  const files: string[] = [];
  const labels = new Int32Array(indices.length);
  const records = s.cache ? new Int32Array(indices.length) : null;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new DataError('BAD_ARGUMENT', `indices[${k}]: expected an integer in [0, ${n}), got ${i}`);
    files.push(s.files[i]!);
    labels[k] = s.labels[i]!;
    if (records) records[k] = s.cache!.records[i]!;
  }
  return { ...s, files, labels, classNames: [...s.classNames], cache: s.cache ? { ...s.cache, records: records! } : null };
}

/** The pool task reading images `which[start..end)` (stream indices; null: start..end itself), without augmentation. */
export function streamTask(s: ImageFolderStream, which: ArrayLike<number> | null, start: number, end: number): Omit<DecodeTask, 'id'> {
  const shape = { height: s.height, width: s.width, channels: s.channels };
  const items: DecodeTask['items'] = [];
  for (let k = start; k < end; k++) {
    const i = which ? which[k]! : k;
    items.push({ file: s.files[i]!, record: s.cache ? s.cache.records[i]! : i });
  }
  return { shape, outShape: shape, fit: s.fit, augment: null, draws: null, items, cache: s.cache ? { file: s.cache.file, imagesOffset: s.cache.imagesOffset } : null };
}

/**
 * Decodes the images of `s` in order, `chunk` per task with at most 2 tasks per worker in flight,
 * and hands each chunk to `onChunk` in order (so a writer can append them).
 */
async function forEachChunk(s: ImageFolderStream, pool: DecodePool, chunk: number, onChunk: (start: number, images: Uint8Array) => Promise<void> | void): Promise<void> {
  const n = s.files.length;
  const window: Array<{ start: number; images: Promise<Uint8Array> }> = [];
  let next = 0;
  const launch = (): void => {
    const start = next;
    next = Math.min(n, start + chunk);
    const images = pool.run(streamTask(s, null, start, next));
    images.catch(() => undefined); // awaited below in order; an early failure is not unhandled
    window.push({ start, images });
  };
  while (next < n && window.length < 2 * pool.size) launch();
  while (window.length > 0) {
    const head = window.shift()!;
    await onChunk(head.start, await head.images);
    if (next < n) launch();
  }
}

/** Decodes every image of `s` into an in-memory Dataset (for held-out and test images). */
export async function loadStream(s: ImageFolderStream, pool: DecodePool): Promise<Dataset> {
  const size = s.height * s.width * s.channels;
  const images = new Uint8Array(s.files.length * size);
  await forEachChunk(s, pool, 32, (start, chunk) => images.set(chunk, start * size));
  return { images, labels: s.labels.slice(), height: s.height, width: s.width, channels: s.channels, classes: s.classes, classNames: [...s.classNames] };
}

/** The images at `indices` of a set in memory (copied) or streamed (nothing decoded). */
export function subsetImages<T extends ImageSet>(x: T, indices: ArrayLike<number>): T {
  return (isStream(x) ? subsetStream(x, indices) : subsetDataset(x, indices)) as T;
}

/** An in-memory set as it is, a stream decoded into memory. */
export async function materialise(x: ImageSet, pool: DecodePool): Promise<Dataset> {
  return isStream(x) ? loadStream(x, pool) : x;
}

/**
 * Points a whole-folder stream at its decoded-tensor cache: reuses a current cache file (written
 * by either path), or decodes the folder once into a new one (constant memory: chunks are
 * appended as they arrive). Returns the stream reading from the cache and what happened.
 */
export async function attachStreamCache(
  s: ImageFolderStream,
  pool: DecodePool,
  cacheDir: string = defaultCacheDir(),
): Promise<{ stream: ImageFolderStream; status: 'hit' | 'built' | 'rebuilt'; file: string; reason?: string }> {
  if (s.cache) throw new DataError('BAD_ARGUMENT', 'stream already reads from a cache');
  const file = path.join(cacheDir, s.cacheName);
  const records = Int32Array.from({ length: s.files.length }, (_, i) => i);
  const found = await openDatasetCacheRecords(file, s.cacheKey);
  if (found.status === 'hit' && found.count === s.files.length && found.channels === s.channels && found.height === s.height && found.width === s.width) {
    return { stream: { ...s, cache: { file, imagesOffset: found.imagesOffset, records } }, status: 'hit', file };
  }
  const status = found.status === 'missing' ? 'built' : 'rebuilt';
  const writer = await DatasetCacheWriter.create(file, s.cacheKey, { ...s, count: s.files.length }, s.labels);
  try {
    await forEachChunk(s, pool, 32, (_start, chunk) => writer.append(chunk));
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const written = await openDatasetCacheRecords(file, s.cacheKey);
  if (written.status !== 'hit') throw new DataError('IMAGE_DECODE', `${file}: the cache file just written does not read back (${written.reason})`, { file });
  const out: { stream: ImageFolderStream; status: 'built' | 'rebuilt'; file: string; reason?: string } = {
    stream: { ...s, cache: { file, imagesOffset: written.imagesOffset, records } },
    status,
    file,
  };
  if (found.status !== 'missing' && found.status !== 'hit') out.reason = `${found.status}: ${found.reason}`;
  return out;
}
