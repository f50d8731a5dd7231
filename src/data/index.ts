// The data layer's entry point: openDataset() turns a dataset spec (an IDX directory, an image
// folder root, or the name of the subset shipped in data/) into {train, test} datasets, and the
// rest of src/data/ is re-exported from here.
//
//   src/data/types.ts         Dataset, DataError, validation and subsets
//   src/data/idx.ts           IDX (MNIST / Fashion-MNIST) files, plain or gzipped
//   src/data/image-folder.ts  <split>/<class>/<image> folders decoded (libjpeg-turbo for JPEGs, sharp for the rest)
//   src/data/tensor-cache.ts  the decoded-tensor cache file
//   src/data/split.ts         the stratified held-out validation split, on disk as JSON
//   src/data/augment.ts       pad-crop, random-resized-crop, centre crop, flip
//   src/data/loader.ts        the shuffled, augmented, prefetching, resumable batch loader
//   src/data/memory.ts        datasets built from in-memory arrays (library users)
//   src/data/folder-stream.ts image folders decoded on demand (too large for memory), mode choice
//   src/data/decode-pool.ts   the worker threads that decode and augment streamed images
//   src/data/decode-worker.ts one such worker
//   src/data/stream-loader.ts the streaming batch loader (BatchLoader's batches from a stream)
import { packageRoot } from '../util/package-root.js';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadIdxDataset } from './idx.js';
import { listClassFolders, loadImageFolder, normalizeSize, type ImageFolderOptions, type ImageFolderResult } from './image-folder.js';
import { DataError, type Dataset } from './types.js';
import { DecodePool, defaultDecodeWorkers } from './decode-pool.js';
import { attachStreamCache, chooseFolderMode, openImageFolderStream, type FolderMode, type ImageSet } from './folder-stream.js';

export * from './types.js';
export * from './idx.js';
export * from './image-folder.js';
export * from './tensor-cache.js';
export * from './split.js';
export * from './augment.js';
export * from './loader.js';
export * from './memory.js';
export * from './decode-pool.js';
export * from './folder-stream.js';
export * from './stream-loader.js';

/** The name of the Fashion-MNIST subset shipped in data/fmnist-mini/. */
export const SHIPPED_DATASETS: readonly string[] = ['fmnist-mini'];

/** Options of openDataset; the image-folder ones apply only to image folders. */
export interface DatasetSpec extends ImageFolderOptions {
  /** An IDX directory, an image-folder root, or a shipped name ('fmnist-mini'). */
  path: string;
  /** Class names (IDX; default: the lines of classes.txt in the directory, when there is one). */
  classNames?: string[];
}

export interface OpenedDataset {
  train: Dataset;
  test: Dataset;
  kind: 'idx' | 'image-folder';
  /** The directory the data came from. */
  root: string;
  /** Image folders: how each split was obtained from the decoded-tensor cache. */
  cache?: { train: ImageFolderResult['cache']; test: ImageFolderResult['cache'] };
}

export { packageRoot };

const IDX_NAMES = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte', 'test-images-idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte', 'test-labels-idx1-ubyte'],
};

/** The first existing file among the names, each plain or .gz. */
function findFile(dir: string, names: readonly string[]): string | undefined {
  for (const name of names) {
    for (const candidate of [name, `${name}.gz`]) {
      const file = path.join(dir, candidate);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

async function readClassNames(dir: string): Promise<string[] | undefined> {
  try {
    const text = await readFile(path.join(dir, 'classes.txt'), 'utf8');
    return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  } catch {
    return undefined;
  }
}

async function openIdx(dir: string, spec: DatasetSpec): Promise<OpenedDataset> {
  const files = {
    trainImages: findFile(dir, IDX_NAMES.trainImages),
    trainLabels: findFile(dir, IDX_NAMES.trainLabels),
    testImages: findFile(dir, IDX_NAMES.testImages),
    testLabels: findFile(dir, IDX_NAMES.testLabels),
  };
  const missing = (Object.keys(files) as (keyof typeof files)[]).filter((k) => files[k] === undefined);
  if (missing.length > 0) {
    throw new DataError(
      'DATASET_NOT_FOUND',
      `${dir}: incomplete IDX directory: no ${missing.map((k) => IDX_NAMES[k][0]).join(', ')} (plain or .gz)`,
      { file: dir },
    );
  }
  const classNames = spec.classNames ?? (await readClassNames(dir));
  const options = classNames ? { classNames } : {};
  let [train, test] = await Promise.all([
    loadIdxDataset(files.trainImages!, files.trainLabels!, options),
    loadIdxDataset(files.testImages!, files.testLabels!, options),
  ]);
  if (train.height !== test.height || train.width !== test.width || train.channels !== test.channels) {
    throw new DataError(
      'IDX_COUNT_MISMATCH',
      `${dir}: train images are ${train.height}x${train.width}x${train.channels}, test images ${test.height}x${test.width}x${test.channels}`,
      { file: dir },
    );
  }
  // Without names, the class count is the larger of the two label ranges.
  const classes = Math.max(train.classes, test.classes);
  train = { ...train, classes };
  test = { ...test, classes };
  return { train, test, kind: 'idx', root: dir };
}

/** The class folders of train/ (or the spec's), checked against those of the test folder. */
async function checkedClasses(root: string, testDir: string, spec: DatasetSpec): Promise<string[]> {
  const classes = spec.classes ?? (await listClassFolders(path.join(root, 'train')));
  if (spec.classes === undefined) {
    const testClasses = await listClassFolders(testDir);
    const extra = testClasses.filter((c) => !classes.includes(c));
    const absent = classes.filter((c) => !testClasses.includes(c));
    if (extra.length > 0 || absent.length > 0) {
      throw new DataError(
        'FOLDER_LAYOUT',
        `${root}: train/ and ${path.basename(testDir)}/ have different class folders` +
          (extra.length ? `; only in ${path.basename(testDir)}/: ${extra.slice(0, 5).join(', ')}` : '') +
          (absent.length ? `; only in train/: ${absent.slice(0, 5).join(', ')}` : ''),
        { file: root },
      );
    }
  }
  return classes;
}

async function openImageFolder(root: string, testDir: string, spec: DatasetSpec): Promise<OpenedDataset> {
  const trainDir = path.join(root, 'train');
  const { path: _path, classNames: _names, ...folderOptions } = spec;
  const classes = await checkedClasses(root, testDir, spec);
  const train = await loadImageFolder(trainDir, { ...folderOptions, classes });
  const test = await loadImageFolder(testDir, { ...folderOptions, classes });
  const a = train.dataset;
  const b = test.dataset;
  if (a.height !== b.height || a.width !== b.width) {
    throw new DataError(
      'IMAGE_SIZE_MISMATCH',
      `${root}: train images are ${a.width}x${a.height}, ${path.basename(testDir)} images ${b.width}x${b.height}; pass a target size`,
      { file: root },
    );
  }
  return { train: a, test: b, kind: 'image-folder', root, cache: { train: train.cache, test: test.cache } };
}

/**
 * Opens a dataset as {train, test}:
 *  - 'fmnist-mini': the Fashion-MNIST subset shipped in <package root>/data/fmnist-mini/;
 *  - a directory with IDX files under their standard names (train-images-idx3-ubyte[.gz],
 *    train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]);
 *  - an image-folder root with train/ and test/ (or, when there is no test/, val/) sub-folders,
 *    each holding one sub-folder of images per class.
 * Anything else is a DataError('DATASET_NOT_FOUND') saying what was looked for.
 */
export async function openDataset(spec: string | DatasetSpec): Promise<OpenedDataset> {
  const s: DatasetSpec = typeof spec === 'string' ? { path: spec } : spec;
  const where = locateDataset(s);
  return where.kind === 'idx' ? openIdx(where.root, s) : openImageFolder(where.root, where.testDir, s);
}

/** Where a spec's data is: an IDX directory, or an image-folder root and its test folder. */
function locateDataset(s: DatasetSpec): { kind: 'idx'; root: string } | { kind: 'image-folder'; root: string; testDir: string } {
  if (typeof s?.path !== 'string' || s.path.length === 0) {
    throw new DataError('BAD_ARGUMENT', `dataset spec: expected a path or a name (${SHIPPED_DATASETS.join(', ')}), got ${JSON.stringify(s)}`);
  }
  if (SHIPPED_DATASETS.includes(s.path)) {
    const dir = path.join(packageRoot(), 'data', s.path);
    if (!isDir(dir)) throw new DataError('DATASET_NOT_FOUND', `${s.path}: the shipped dataset folder ${dir} is missing`, { file: dir });
    return { kind: 'idx', root: dir };
  }
  const root = path.resolve(s.path);
  if (!existsSync(root)) {
    throw new DataError(
      'DATASET_NOT_FOUND',
      `${s.path}: no such dataset: expected an IDX directory, an image-folder root (train/ and test/ or val/), or one of the names ${SHIPPED_DATASETS.join(', ')}`,
      { file: root },
    );
  }
  if (!isDir(root)) {
    const hint = /\.(tar(\.gz)?|tgz|zip)$/i.test(root) ? '; it looks like an archive: extract it and pass the extracted folder' : '';
    throw new DataError('DATASET_NOT_FOUND', `${s.path}: not a directory${hint}`, { file: root });
  }
  if (findFile(root, IDX_NAMES.trainImages) !== undefined) return { kind: 'idx', root };
  if (isDir(path.join(root, 'train'))) {
    const testDir = isDir(path.join(root, 'test')) ? path.join(root, 'test') : path.join(root, 'val');
    if (!isDir(testDir)) {
      throw new DataError('DATASET_NOT_FOUND', `${s.path}: image-folder root has train/ but neither test/ nor val/`, { file: root });
    }
    return { kind: 'image-folder', root, testDir };
  }
  throw new DataError(
    'DATASET_NOT_FOUND',
    `${s.path}: not a dataset directory: found neither IDX files (train-images-idx3-ubyte[.gz], ...) nor train/ and test/ (or val/) image folders`,
    { file: root },
  );
}

export interface TrainingDataSpec extends DatasetSpec {
  /** Image folders: 'memory', 'stream', or 'auto' (default: stream when the decoded training set exceeds `memoryBudget`). */
  mode?: FolderMode;
  /** Bytes of decoded training images kept in memory in 'auto' mode (default defaultMemoryBudget()). */
  memoryBudget?: number;
  /** Streamed training set: read it from the decoded-tensor cache (built on first use) instead of decoding every epoch. */
  streamCache?: boolean;
  /** Worker threads that decode a streamed set (default defaultDecodeWorkers()). */
  workers?: number;
}

export interface TrainingData extends Omit<OpenedDataset, 'train'> {
  /** In memory, or (mode 'stream') an ImageFolderStream decoded on demand. */
  train: ImageSet;
  mode: 'memory' | 'stream';
  /** Why this mode (for the log). */
  modeReason: string;
  /** The worker threads of a streamed set (loaders and decodes of its subsets share them). */
  pool?: DecodePool;
  /** Streamed training set with streamCache: how the decoded-tensor cache was obtained. */
  streamCache?: { status: 'hit' | 'built' | 'rebuilt'; file: string; reason?: string };
}

/**
 * openDataset for training: the same data, with an image folder's training split streamed from
 * disk when its decoded tensor would not fit the memory budget (or when forced). The test split
 * is always decoded into memory. Batches are identical in both modes.
 */
export async function openTrainingData(spec: TrainingDataSpec): Promise<TrainingData> {
  const { mode = 'auto', memoryBudget, streamCache = false, workers, ...datasetSpec } = spec;
  const where = locateDataset(datasetSpec);
  const size = normalizeSize(datasetSpec.size);
  if (where.kind === 'idx' || size === undefined) {
    if (mode === 'stream') throw new DataError('BAD_ARGUMENT', `mode 'stream': only image folders with a target size can be streamed (${datasetSpec.path} is ${where.kind === 'idx' ? 'an IDX directory' : 'opened without a size'})`);
    return { ...(await openDataset(datasetSpec)), mode: 'memory', modeReason: where.kind === 'idx' ? 'IDX files are read whole' : 'no target size' };
  }
  const { path: _path, classNames: _names, ...folderOptions } = datasetSpec;
  const classes = await checkedClasses(where.root, where.testDir, datasetSpec);
  let train = await openImageFolderStream(path.join(where.root, 'train'), { ...folderOptions, classes });
  const bytes = train.files.length * size.height * size.width * train.channels;
  const choice = chooseFolderMode(mode, bytes, memoryBudget);
  if (choice.mode === 'memory') return { ...(await openDataset(datasetSpec)), mode: 'memory', modeReason: choice.reason };
  const pool = new DecodePool(workers ?? defaultDecodeWorkers());
  let cacheInfo: TrainingData['streamCache'];
  if (streamCache && datasetSpec.cacheDir !== false) {
    const attached = await attachStreamCache(train, pool, datasetSpec.cacheDir);
    train = attached.stream;
    cacheInfo = { status: attached.status, file: attached.file, ...(attached.reason !== undefined ? { reason: attached.reason } : {}) };
  }
  const test = await loadImageFolder(where.testDir, { ...folderOptions, classes });
  const out: TrainingData = { train, test: test.dataset, kind: 'image-folder', root: where.root, mode: 'stream', modeReason: choice.reason, pool };
  if (cacheInfo) out.streamCache = cacheInfo;
  return out;
}
