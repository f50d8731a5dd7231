// openDataset(): the shipped fmnist-mini subset (and that it really is a stratified subset of
// Fashion-MNIST, when the full set is installed), IDX directories, image-folder roots with test/
// or val/, and the errors for everything else.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { loadIdxDataset, writeIdxFile } from '../src/data/idx.js';
import { openDataset, packageRoot } from '../src/data/index.js';
import { DataError, type Dataset } from '../src/data/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'greedynas-open-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function isDataError(code: string, text?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof DataError, String(err));
    assert.equal(err.code, code, err.message);
    if (text) assert.ok(err.message.includes(text), err.message);
    return true;
  };
}

function perClass(ds: Dataset): number[] {
  const counts = new Array<number>(ds.classes).fill(0);
  for (const l of ds.labels) counts[l]!++;
  return counts;
}

test('fmnist-mini: 6,000 train (600 per class) and 1,000 test (100 per class) 28x28 images with names', async () => {
  const { train, test: testSet, kind, root } = await openDataset('fmnist-mini');
  assert.equal(kind, 'idx');
  assert.equal(root, join(packageRoot(), 'data', 'fmnist-mini'));
  assert.equal(train.labels.length, 6000);
  assert.equal(testSet.labels.length, 1000);
  assert.deepEqual([train.height, train.width, train.channels, train.classes], [28, 28, 1, 10]);
  assert.deepEqual(perClass(train), new Array(10).fill(600));
  assert.deepEqual(perClass(testSet), new Array(10).fill(100));
  assert.equal(train.classNames?.[0], 'T-shirt/top');
  assert.equal(train.classNames?.[9], 'Ankle boot');
  // Real images, not blank: mean pixel of Fashion-MNIST is about 73.
  let sum = 0;
  for (const v of train.images) sum += v;
  const mean = sum / train.images.length;
  assert.ok(mean > 60 && mean < 90, `mean pixel ${mean}`);
});

const FMNIST = '/usr/share/datasets/fashion-mnist';
test(
  'fmnist-mini images are images of the full Fashion-MNIST with the same labels',
  { skip: existsSync(join(FMNIST, 'train-images-idx3-ubyte.gz')) ? false : `${FMNIST} not installed (apt-get install -y dataset-fashion-mnist)` },
  async () => {
    const mini = await openDataset('fmnist-mini');
    for (const [split, prefix] of [['train', 'train'], ['test', 't10k']] as const) {
      const full = await loadIdxDataset(join(FMNIST, `${prefix}-images-idx3-ubyte.gz`), join(FMNIST, `${prefix}-labels-idx1-ubyte.gz`));
      const byHash = new Map<string, number>();
      for (let i = 0; i < full.labels.length; i++) {
        byHash.set(createHash('sha1').update(full.images.subarray(i * 784, (i + 1) * 784)).digest('hex'), full.labels[i]!);
      }
      const ds = mini[split];
      for (let i = 0; i < ds.labels.length; i++) {
        const label = byHash.get(createHash('sha1').update(ds.images.subarray(i * 784, (i + 1) * 784)).digest('hex'));
        assert.equal(label, ds.labels[i], `${split} image ${i}`);
      }
    }
  },
);

test('an IDX directory under the standard names (plain and gzipped, t10k- test files)', async () => {
  const dir = join(tmp, 'idx');
  mkdirSync(dir);
  const images = Uint8Array.from({ length: 6 * 9 }, (_, i) => i);
  await writeIdxFile(join(dir, 'train-images-idx3-ubyte.gz'), [6, 3, 3], images, { gzip: true });
  await writeIdxFile(join(dir, 'train-labels-idx1-ubyte'), [6], Uint8Array.from([0, 1, 2, 0, 1, 2]));
  await writeIdxFile(join(dir, 't10k-images-idx3-ubyte'), [2, 3, 3], images.subarray(0, 18));
  await assert.rejects(openDataset(dir), isDataError('DATASET_NOT_FOUND', 't10k-labels-idx1-ubyte'));
  // The test labels reach class 3 though train only reaches 2: both get 4 classes.
  await writeIdxFile(join(dir, 't10k-labels-idx1-ubyte.gz'), [2], Uint8Array.from([3, 0]), { gzip: true });
  const { train, test: testSet } = await openDataset({ path: dir });
  assert.equal(train.labels.length, 6);
  assert.equal(testSet.labels.length, 2);
  assert.equal(train.classes, 4);
  assert.equal(testSet.classes, 4);
  assert.equal(train.classNames, undefined);
  writeFileSync(join(dir, 'classes.txt'), 'a\nb\nc\nd\n');
  assert.deepEqual((await openDataset(dir)).train.classNames, ['a', 'b', 'c', 'd']);
});

async function makeFolder(root: string, splits: string[], classes: string[]): Promise<void> {
  for (const split of splits) {
    for (const [c, name] of classes.entries()) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (let i = 0; i < 2; i++) {
        const px = Buffer.alloc(5 * 5 * 3, 40 * c + 10 * i + (split === 'train' ? 0 : 5));
        await sharp(px, { raw: { width: 5, height: 5, channels: 3 } }).png().toFile(join(root, split, name, `${i}.png`));
      }
    }
  }
}

test('an image-folder root with train/ and test/, or train/ and val/', async () => {
  const a = join(tmp, 'folder-test');
  await makeFolder(a, ['train', 'test'], ['cat', 'bird']);
  const opened = await openDataset({ path: a, cacheDir: join(tmp, 'cache') });
  assert.equal(opened.kind, 'image-folder');
  assert.deepEqual(opened.train.classNames, ['bird', 'cat']);
  assert.deepEqual(opened.test.classNames, ['bird', 'cat']);
  assert.equal(opened.test.images[0], 5 + 40 * 1, 'test/bird/0.png: bird was class index 1 when written');
  assert.equal(opened.cache?.train.status, 'built');
  assert.equal((await openDataset({ path: a, cacheDir: join(tmp, 'cache') })).cache?.test.status, 'hit');

  const b = join(tmp, 'folder-val');
  await makeFolder(b, ['train', 'val'], ['x', 'y', 'z']);
  const v = await openDataset({ path: b, cacheDir: false, size: 3 });
  assert.equal(v.test.labels.length, 6);
  assert.equal(v.train.height, 3);

  const c = join(tmp, 'folder-mismatch');
  await makeFolder(c, ['train'], ['x', 'y']);
  await makeFolder(c, ['test'], ['x', 'w']);
  await assert.rejects(openDataset({ path: c, cacheDir: false }), isDataError('FOLDER_LAYOUT', 'only in test/: w'));
});

test('anything else is a clear error', async () => {
  await assert.rejects(openDataset(join(tmp, 'no-such-thing')), isDataError('DATASET_NOT_FOUND', 'fmnist-mini'));
  writeFileSync(join(tmp, 'data.tar.gz'), 'x');
  await assert.rejects(openDataset(join(tmp, 'data.tar.gz')), isDataError('DATASET_NOT_FOUND', 'extract it'));
  mkdirSync(join(tmp, 'empty-dir'));
  await assert.rejects(openDataset(join(tmp, 'empty-dir')), isDataError('DATASET_NOT_FOUND', 'neither IDX files'));
  mkdirSync(join(tmp, 'train-only', 'train', 'a'), { recursive: true });
  await assert.rejects(openDataset(join(tmp, 'train-only')), isDataError('DATASET_NOT_FOUND', 'neither test/ nor val/'));
  await assert.rejects(openDataset(''), isDataError('BAD_ARGUMENT'));
});
