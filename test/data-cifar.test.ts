// CIFAR-10 as a JPEG folder tree (a tar.gz of <split>/<class>/<image>.jpg, the ImageNet layout; by
// default the team's copy beside the checkout, GNAS_CIFAR_ARCHIVE names another): the
// first 300 images of two classes of each split are extracted to a temporary folder (to keep the
// test to a few seconds) and opened through openDataset with a per-class limit of 250, checked against sharp's own decode of a file, reopened from
// the cache, split, and fed through the augmenting loader. Skipped when the archive is absent.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { BatchLoader, defaultAugmentation, openDataset, packageRoot, stratifiedSplit } from '../src/data/index.js';

const archive = process.env.GNAS_CIFAR_ARCHIVE ?? join(packageRoot(), '..', 'shared', 'data', 'cifar10-jpeg.tar.gz');
const skip = existsSync(archive) ? false : `${archive} not present (CIFAR-10 as a tar.gz of train/ and test/ class folders of JPEGs; set GNAS_CIFAR_ARCHIVE to its path)`;

let tmp: string | undefined;
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('CIFAR-10 JPEG folders: two classes, 250 train + 250 test images each', { skip }, async () => {
  tmp = mkdtempSync(join(tmpdir(), 'greedynas-cifar-'));
  const members = ['train', 'test'].flatMap((s) => ['airplane', 'cat'].map((c) => `cifar10/${s}/${c}/0[0-2][0-9][0-9].jpg`));
  execFileSync('tar', ['-xzf', archive, '-C', tmp, '--wildcards', ...members]);
  const root = join(tmp, 'cifar10');
  const cacheDir = join(tmp, 'cache');
  let progressCalls = 0;
  const opened = await openDataset({ path: root, limitPerClass: 250, cacheDir, onProgress: () => progressCalls++ });
  const { train, test: testSet } = opened;
  assert.equal(progressCalls, 1000);
  assert.deepEqual(train.classNames, ['airplane', 'cat']);
  assert.deepEqual([train.height, train.width, train.channels], [32, 32, 3]);
  assert.equal(train.labels.length, 500);
  assert.equal(testSet.labels.length, 500);
  assert.deepEqual(Array.from(train.labels.subarray(248, 252)), [0, 0, 1, 1]);

  // Image 250 is cat/0000.jpg: identical to sharp's own decode.
  const direct = await sharp(join(root, 'train', 'cat', '0000.jpg')).raw().toBuffer();
  assert.deepEqual(Buffer.from(train.images.subarray(250 * 3072, 251 * 3072)), direct);

  const again = await openDataset({ path: root, limitPerClass: 250, cacheDir });
  assert.equal(again.cache?.train.status, 'hit');
  assert.deepEqual(again.train.images, train.images);

  const split = stratifiedSplit(train.labels, train.classes, { seed: 0 });
  assert.equal(split.val.length, 50);
  const loader = new BatchLoader(train, { batchSize: 64, seed: 0, indices: split.train, augment: defaultAugmentation(train) });
  const batch = await loader.next();
  assert.equal(batch.images.length, 64 * 3072);
  assert.ok(batch.indices.every((i) => !split.val.includes(i)), 'training batches never hold validation images');
});
