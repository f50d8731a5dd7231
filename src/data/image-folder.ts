// Image-folder datasets (the ImageNet layout: <split>/<class>/<image>), decoded (decodeImageBytes:
// libjpeg-turbo for JPEGs, sharp for the rest, one native resize) into one NHWC uint8 tensor, with
// a bounded number of decodes in flight, a progress callback, and a binary cache
// (src/data/tensor-cache.ts) keyed on the folder's file list, sizes, mtimes and the decode
// options, so that the folder is decoded once.
//
// Class labels are the indices of the class folder names in sorted order (or in the order of the
// `classes` option, which is how a test folder gets its training folder's labels). Symbolic links
// are followed (a dataset tree of links to class folders or to image files is common); a link to
// nothing is an error naming it.
import { createHash } from 'node:crypto';
import { readFile as readFileCallback, type Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { decodeJpeg, decodeJpegSync, nativeJpegDecoder, prepareImage, prepareImageSync, type NativeImageTarget } from '../native/image.js';
import { readDatasetCache, writeDatasetCache, CACHE_VERSION } from './tensor-cache.js';
import { DataError, isPositiveInt, type Dataset } from './types.js';

/** File extensions (lower case) read as images; other files in a class folder are ignored. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

export interface LoadProgress {
  /** The split folder being loaded. */
  dir: string;
  /** Images decoded so far. */
  done: number;
  total: number;
}

export interface ImageFolderOptions {
  /**
   * Output size: a side length (square) or {height, width}. Omitted: images are stored at their
   * own size, and every image must have the size of the first one.
   */
  size?: number | { height: number; width: number };
  /** How an image reaches `size`: 'cover' (default: scale the shorter side to fit, centre crop) or 'fill' (stretch). */
  fit?: 'cover' | 'fill';
  /** Channels of the output: 3 (default; grey images are replicated) or 1 (BT.601 luma). Alpha is flattened on black. */
  channels?: 1 | 3;
  /** Class folder names to load, in label order. Default: every sub-folder, sorted. */
  classes?: string[];
  /** Keep only the first `limitPerClass` files (sorted by name) of each class. Default: all. */
  limitPerClass?: number;
  /** Images decoded at once (default 8). */
  concurrency?: number;
  /** Called after each decoded image (not on a cache hit). */
  onProgress?: (p: LoadProgress) => void;
  /** Folder of decoded-tensor caches; false disables the cache. Default: defaultCacheDir(). */
  cacheDir?: string | false;
}

export type CacheStatus = 'hit' | 'built' | 'rebuilt' | 'disabled';

export interface ImageFolderResult {
  dataset: Dataset;
  cache: {
    status: CacheStatus;
    /** The cache file (absent when disabled). */
    file?: string;
    /** Why an existing cache was rebuilt, or why writing the new one failed. */
    reason?: string;
    /** Set when the decoded tensor could not be written to the cache (the load still succeeds). */
    writeError?: string;
  };
}

/** $GREEDYNAS_CACHE_DIR, else $XDG_CACHE_HOME/greedynas/datasets, else ~/.cache/greedynas/datasets. */
export function defaultCacheDir(): string {
  const env = process.env['GREEDYNAS_CACHE_DIR'];
  if (env) return env;
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg ? xdg : path.join(os.homedir(), '.cache'), 'greedynas', 'datasets');
}

export interface ImageFile {
  /** Path relative to the split folder: <class>/<name>. */
  rel: string;
  label: number;
  size: number;
  mtimeMs: number;
}

/** Runs fn(0..count-1) with at most `limit` calls in flight; stops scheduling at the first error and rethrows it. */
async function runPool(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (failed) throw firstError;
}

/**
 * Whether an entry of `dir` is a directory or a file, following symbolic links (stat, not the
 * entry's own type); a link whose target is missing is a FOLDER_LAYOUT error naming it.
 */
async function kindOf(dir: string, e: Dirent): Promise<'dir' | 'file' | 'other'> {
  if (!e.isSymbolicLink()) return e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other';
  const file = path.join(dir, e.name);
  try {
    const st = await stat(file);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch (err) {
    throw new DataError('FOLDER_LAYOUT', `${file}: symbolic link to a missing or unreadable target (${(err as Error).message}); fix or remove the link`, { file, cause: err });
  }
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const dirs: string[] = [];
  for (const e of entries) if ((await kindOf(dir, e)) === 'dir') dirs.push(e.name);
  return dirs.sort();
}

export function normalizeSize(size: ImageFolderOptions['size']): { height: number; width: number } | undefined {
  if (size === undefined) return undefined;
  const s = typeof size === 'number' ? { height: size, width: size } : size;
  if (!isPositiveInt(s.height) || !isPositiveInt(s.width)) {
    throw new DataError('BAD_ARGUMENT', `size: expected a positive integer or {height, width} of positive integers, got ${JSON.stringify(size)}`);
  }
  return { height: s.height, width: s.width };
}

/** Lists the images of a split folder with their labels, sizes and mtimes, in label then name order. */
export async function scanFolder(
  dir: string,
  classes: string[],
  limitPerClass: number | undefined,
  concurrency: number,
): Promise<ImageFile[]> {
  const files: ImageFile[] = [];
  for (let label = 0; label < classes.length; label++) {
    const cls = classes[label]!;
    let entries;
    try {
      entries = await readdir(path.join(dir, cls), { withFileTypes: true });
    } catch (err) {
      throw new DataError('FOLDER_LAYOUT', `${path.join(dir, cls)}: class folder cannot be read: ${(err as Error).message}`, {
        file: path.join(dir, cls),
        cause: err,
      });
    }
    let names: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.') || !IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) continue;
      if ((await kindOf(path.join(dir, cls), e)) === 'file') names.push(e.name);
    }
    names.sort();
    if (limitPerClass !== undefined) names = names.slice(0, limitPerClass);
    if (names.length === 0) {
      throw new DataError('FOLDER_LAYOUT', `${path.join(dir, cls)}: class folder has no images (${IMAGE_EXTENSIONS.join(' ')})`, {
        file: path.join(dir, cls),
      });
    }
    for (const name of names) files.push({ rel: path.join(cls, name), label, size: 0, mtimeMs: 0 });
  }
  await runPool(files.length, Math.max(concurrency, 16), async (i) => {
    const f = files[i]!;
    const st = await stat(path.join(dir, f.rel));
    f.size = st.size;
    f.mtimeMs = st.mtimeMs;
  });
  return files;
}

export interface DecodeSpec {
  size: { height: number; width: number } | undefined;
  fit: 'cover' | 'fill';
  channels: 1 | 3;
}

/** Node's callback readFile as a promise: about 0.5 ms less CPU per small file than fs/promises' readFile (one FileHandle round trip per step). */
const readFileBytes = promisify(readFileCallback);

/** Reads and decodes one image file (see decodeImageBytes); a file that cannot be read is an IMAGE_DECODE error naming it. */
export async function decodeImage(file: string, spec: DecodeSpec): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFileBytes(file);
  } catch (err) {
    throw new DataError('IMAGE_DECODE', `${file}: cannot read image: ${(err as Error).message}`, { file, cause: err });
  }
  return decodeImageBytes(bytes, file, spec);
}

export interface DecodedImage {
  data: Uint8Array;
  height: number;
  width: number;
}

/** Which decoder an image folder's files go to on this machine, in words (for the run's log). */
export function imageDecoderSummary(): string {
  const native = nativeJpegDecoder();
  return native.library !== null
    ? `JPEGs decoded by libjpeg-turbo (${native.library}), other formats by sharp`
    : `every image decoded by sharp (no native JPEG decoder: ${native.reason}; the same pixels, slower)`;
}

/**
 * Decodes an image file's bytes (`file` names it in errors) to `spec`. A JPEG goes to the native
 * decoder (libjpeg-turbo, src/native/image.ts); any other file, or a JPEG it does not take (CMYK,
 * an ICC profile, no libjpeg on this machine), is decoded by sharp (failing on warnings such as a
 * truncated file). Either way the native code converts the channels and resizes, so every path
 * gives the same pixels. `sync` (the decode workers) runs the native steps on this thread; the
 * default runs them on libuv's pool.
 */
export async function decodeImageBytes(bytes: Buffer, file: string, spec: DecodeSpec, mode: 'sync' | 'async' = 'async'): Promise<DecodedImage> {
  const target: NativeImageTarget = { width: spec.size?.width ?? 0, height: spec.size?.height ?? 0, fit: spec.fit, channels: spec.channels };
  const sync = mode === 'sync';
  try {
    let img = sync ? decodeJpegSync(bytes, target) : await decodeJpeg(bytes, target);
    if (img === null) {
      const { data, info } = await sharp(bytes, { failOn: 'warning' }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      const raw = { data, width: info.width, height: info.height, channels: info.channels };
      img = sync ? prepareImageSync(raw, target) : await prepareImage(raw, target);
    }
    return { data: img.data, height: img.height, width: img.width };
  } catch (err) {
    throw new DataError('IMAGE_DECODE', `${file}: cannot decode image: ${(err as Error).message}; replace the file with a readable copy or remove it`, { file, cause: err });
  }
}

/**
 * The cache file's name (folder + options: one file per way of loading a folder) and its key
 * (options + every file's path, size and mtime: a changed folder makes the file stale).
 */
export function fingerprint(
  dir: string,
  spec: DecodeSpec,
  classes: string[],
  limitPerClass: number | undefined,
  files: ImageFile[],
): { key: string; name: string } {
  const options = JSON.stringify({
    cacheVersion: CACHE_VERSION,
    size: spec.size ?? null,
    fit: spec.fit,
    channels: spec.channels,
    classes,
    limitPerClass: limitPerClass ?? null,
  });
  const name = createHash('sha256').update(path.resolve(dir)).update('\0').update(options).digest('hex').slice(0, 24);
  const h = createHash('sha256').update(options);
  for (const f of files) h.update(`\n${f.label}\t${f.rel}\t${f.size}\t${f.mtimeMs}`);
  return { key: h.digest('hex'), name: `${path.basename(path.resolve(dir))}-${name}.gnds` };
}

/** Lists the class folders of a split folder (sorted), or throws FOLDER_LAYOUT. */
export async function listClassFolders(dir: string): Promise<string[]> {
  let classes: string[];
  try {
    classes = await listDirs(dir);
  } catch (err) {
    throw new DataError('FOLDER_LAYOUT', `${dir}: cannot list class folders: ${(err as Error).message}`, { file: dir, cause: err });
  }
  if (classes.length === 0) throw new DataError('FOLDER_LAYOUT', `${dir}: no class sub-folders`, { file: dir });
  return classes;
}

/**
 * Loads one split folder (<dir>/<class>/<image>) as a Dataset, from the cache when it is current.
 * Errors: FOLDER_LAYOUT (missing or empty class folders), IMAGE_DECODE (names the file),
 * IMAGE_SIZE_MISMATCH (no `size` given and images differ in size; names the file).
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions = {}): Promise<ImageFolderResult> {
  const spec: DecodeSpec = { size: normalizeSize(options.size), fit: options.fit ?? 'cover', channels: options.channels ?? 3 };
  if (spec.fit !== 'cover' && spec.fit !== 'fill') {
    throw new DataError('BAD_ARGUMENT', `fit: expected 'cover' or 'fill', got ${String(spec.fit)}`);
  }
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new DataError('BAD_ARGUMENT', `channels: expected 1 or 3, got ${String(spec.channels)}`);
  }
  const concurrency = options.concurrency ?? 8;
  if (!isPositiveInt(concurrency)) throw new DataError('BAD_ARGUMENT', `concurrency: expected a positive integer, got ${concurrency}`);
  if (options.limitPerClass !== undefined && !isPositiveInt(options.limitPerClass)) {
    throw new DataError('BAD_ARGUMENT', `limitPerClass: expected a positive integer, got ${options.limitPerClass}`);
  }
  const classes = options.classes ? [...options.classes] : await listClassFolders(dir);
  if (classes.length === 0) throw new DataError('BAD_ARGUMENT', 'classes: expected at least one class folder name');
  if (new Set(classes).size !== classes.length) throw new DataError('BAD_ARGUMENT', `classes: duplicate names in ${JSON.stringify(classes)}`);

  const files = await scanFolder(dir, classes, options.limitPerClass, concurrency);
  const { key, name } = fingerprint(dir, spec, classes, options.limitPerClass, files);
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const cacheFile = cacheDir === false ? undefined : path.join(cacheDir, name);

  let status: CacheStatus = 'disabled';
  let reason: string | undefined;
  if (cacheFile !== undefined) {
    const cached = await readDatasetCache(cacheFile, key);
    if (cached.status === 'hit') {
      const ds = cached.dataset;
      if (ds.labels.length === files.length && ds.classes === classes.length && ds.channels === spec.channels) {
        return { dataset: ds, cache: { status: 'hit', file: cacheFile } };
      }
      status = 'rebuilt';
      reason = 'cache contents do not match the folder';
    } else {
      status = cached.status === 'missing' ? 'built' : 'rebuilt';
      if (cached.status !== 'missing') reason = `${cached.status}: ${cached.reason}`;
    }
  }

  // Shape: the requested size, or the first image's own size.
  let height: number;
  let width: number;
  let first: Uint8Array | undefined;
  if (spec.size) {
    ({ height, width } = spec.size);
  } else {
    const img = await decodeImage(path.join(dir, files[0]!.rel), spec);
    ({ height, width } = img);
    first = img.data;
  }
  const size = height * width * spec.channels;
  const images = new Uint8Array(files.length * size);
  const labels = Int32Array.from(files, (f) => f.label);
  let done = 0;
  const report = (): void => options.onProgress?.({ dir, done, total: files.length });
  if (first) {
    images.set(first, 0);
    done++;
    report();
  }
  await runPool(files.length, concurrency, async (i) => {
    if (i === 0 && first) return;
    const file = path.join(dir, files[i]!.rel);
    const img = await decodeImage(file, spec);
    if (img.height !== height || img.width !== width) {
      throw new DataError(
        'IMAGE_SIZE_MISMATCH',
        `${file}: image is ${img.width}x${img.height}, but ${files[0]!.rel} is ${width}x${height}; pass a target size to resize`,
        { file },
      );
    }
    images.set(img.data, i * size);
    done++;
    report();
  });

  const dataset: Dataset = { images, labels, height, width, channels: spec.channels, classes: classes.length, classNames: classes };
  const cache: ImageFolderResult['cache'] = { status };
  if (cacheFile !== undefined) {
    cache.file = cacheFile;
    if (reason !== undefined) cache.reason = reason;
    try {
      await writeDatasetCache(cacheFile, dataset, key);
    } catch (err) {
      cache.writeError = (err as Error).message;
    }
  }
  return { dataset, cache };
}
