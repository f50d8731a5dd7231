// IDX files: round trip (plain and gzipped), the error cases (bad magic, truncated data, truncated
// gzip, trailing bytes, image/label count mismatch, labels beyond the class count), and the full
// Fashion-MNIST from /usr/share/datasets/fashion-mnist/ when that package is installed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { encodeIdx, loadIdxDataset, parseIdx, readIdxFile, writeIdxFile } from '../src/data/idx.js';
import { DataError } from '../src/data/types.js';

const dir = mkdtempSync(join(tmpdir(), 'greedynas-idx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** n images of h x w whose pixel (i, y, x) = (i * 7 + y * 3 + x) mod 256, labels i mod 3. */
function craft(n: number, h: number, w: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) images[(i * h + y) * w + x] = (i * 7 + y * 3 + x) % 256;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
  return { images, labels };
}

function assertDataError(code: string, fileSubstring?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (fileSubstring) assert.ok(err.message.includes(fileSubstring), `message should name ${fileSubstring}: ${err.message}`);
    return true;
  };
}

test('encodeIdx writes the documented header', () => {
  const bytes = encodeIdx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(Array.from(bytes.subarray(0, 12)), [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
  assert.deepEqual(Array.from(bytes.subarray(12)), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(parseIdx(bytes), { dims: [2, 3], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
});

for (const gzip of [false, true]) {
  test(`round trip of images and labels (${gzip ? 'gzipped' : 'plain'})`, async () => {
    const { images, labels } = craft(5, 4, 6);
    const imagesFile = join(dir, `rt-images-${gzip}`);
    const labelsFile = join(dir, `rt-labels-${gzip}`);
    await writeIdxFile(imagesFile, [5, 4, 6], images, { gzip });
    await writeIdxFile(labelsFile, [5], labels, { gzip });
    assert.equal(readFileSync(imagesFile)[0] === 0x1f, gzip);
    const ds = await loadIdxDataset(imagesFile, labelsFile);
    assert.equal(ds.height, 4);
    assert.equal(ds.width, 6);
    assert.equal(ds.channels, 1);
    assert.equal(ds.classes, 3);
    assert.deepEqual(ds.images, images);
    assert.deepEqual(ds.labels, Int32Array.from(labels));
  });
}

test('four-dimensional IDX images give NHWC with C channels', async () => {
  const data = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i);
  await writeIdxFile(join(dir, 'rgb-images'), [2, 2, 2, 3], data);
  await writeIdxFile(join(dir, 'rgb-labels'), [2], Uint8Array.from([1, 0]));
  const ds = await loadIdxDataset(join(dir, 'rgb-images'), join(dir, 'rgb-labels'), { classNames: ['a', 'b'] });
  assert.equal(ds.channels, 3);
  assert.deepEqual(ds.classNames, ['a', 'b']);
  assert.deepEqual(ds.images, data);
});

test('bad magic is rejected and names the file', async () => {
  const file = join(dir, 'bad-magic');
  const bytes = encodeIdx([2], Uint8Array.from([1, 2]));
  bytes[0] = 0x50; // e.g. a PNG or text file
  writeFileSync(file, bytes);
  await assert.rejects(readIdxFile(file), assertDataError('IDX_BAD_MAGIC', file));
  const unknownType = encodeIdx([2], Uint8Array.from([1, 2]));
  unknownType[2] = 0x42;
  assert.throws(() => parseIdx(unknownType, 'x'), assertDataError('IDX_BAD_MAGIC'));
  const floats = encodeIdx([2], Uint8Array.from([1, 2]));
  floats[2] = 0x0d;
  assert.throws(() => parseIdx(floats, 'x'), assertDataError('IDX_UNSUPPORTED'));
});

test('truncated files are rejected: short data, short header, truncated gzip', async () => {
  const full = encodeIdx([10, 4, 4], new Uint8Array(160));
  const file = join(dir, 'trunc');
  writeFileSync(file, full.subarray(0, full.length - 1));
  await assert.rejects(readIdxFile(file), assertDataError('IDX_TRUNCATED', file));
  assert.throws(() => parseIdx(full.subarray(0, 10), 'short-header'), assertDataError('IDX_TRUNCATED', 'short-header'));
  assert.throws(() => parseIdx(full.subarray(0, 2), 'tiny'), assertDataError('IDX_TRUNCATED'));
  const gz = gzipSync(full);
  const gzFile = join(dir, 'trunc.gz');
  writeFileSync(gzFile, gz.subarray(0, gz.length - 12));
  await assert.rejects(readIdxFile(gzFile), assertDataError('IDX_TRUNCATED', gzFile));
  const corrupt = Buffer.from(gz);
  corrupt[12] = (corrupt[12]! ^ 0xff) & 0xff;
  corrupt[13] = (corrupt[13]! ^ 0xff) & 0xff;
  const corruptFile = join(dir, 'corrupt.gz');
  writeFileSync(corruptFile, corrupt);
  await assert.rejects(readIdxFile(corruptFile), (err: unknown) => {
    assert.ok(err instanceof DataError && ['IDX_BAD_GZIP', 'IDX_TRUNCATED'].includes(err.code), String(err));
    return true;
  });
});

test('trailing bytes after the declared data are rejected', () => {
  const full = encodeIdx([3], Uint8Array.from([1, 2, 3]));
  const longer = new Uint8Array(full.length + 2);
  longer.set(full);
  assert.throws(() => parseIdx(longer, 'long'), assertDataError('IDX_TRAILING_DATA', 'long'));
});

test('image/label count mismatch is rejected, naming both files', async () => {
  const { images, labels } = craft(5, 3, 3);
  await writeIdxFile(join(dir, 'mm-images'), [5, 3, 3], images);
  await writeIdxFile(join(dir, 'mm-labels'), [4], labels.subarray(0, 4));
  await assert.rejects(loadIdxDataset(join(dir, 'mm-images'), join(dir, 'mm-labels')), (err: unknown) => {
    assertDataError('IDX_COUNT_MISMATCH')(err);
    const msg = (err as Error).message;
    assert.ok(msg.includes('mm-images') && msg.includes('mm-labels') && msg.includes('5') && msg.includes('4'), msg);
    return true;
  });
});

test('labels beyond the declared class count are rejected', async () => {
  const { images, labels } = craft(5, 3, 3);
  await writeIdxFile(join(dir, 'cl-images'), [5, 3, 3], images);
  await writeIdxFile(join(dir, 'cl-labels'), [5], labels);
  await assert.rejects(loadIdxDataset(join(dir, 'cl-images'), join(dir, 'cl-labels'), { classes: 2 }), assertDataError('IDX_BAD_LABEL'));
});

const FMNIST = '/usr/share/datasets/fashion-mnist';
const haveFmnist = existsSync(join(FMNIST, 't10k-images-idx3-ubyte.gz'));
test(
  'full Fashion-MNIST test set loads (10,000 x 28 x 28, 1,000 per class)',
  { skip: haveFmnist ? false : `${FMNIST} not installed (apt-get install -y dataset-fashion-mnist)` },
  async () => {
    const ds = await loadIdxDataset(join(FMNIST, 't10k-images-idx3-ubyte.gz'), join(FMNIST, 't10k-labels-idx1-ubyte.gz'));
    assert.equal(ds.labels.length, 10000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.classes, 10);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
  },
);
