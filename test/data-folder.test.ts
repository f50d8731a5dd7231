// Image-folder datasets on tiny folders generated here with sharp: exact PNG pixels and labels,
// resizing (shorter side + centre crop), channel forcing, errors naming the bad file, and the
// decoded-tensor cache: reuse, invalidation on a changed file list / mtime / options, and rebuild
// of a corrupt or truncated cache file; symbolic links to class folders and images followed.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { loadImageFolder } from '../src/data/image-folder.js';
import { DataError } from '../src/data/types.js';

const root = mkdtempSync(join(tmpdir(), 'greedynas-folder-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** An h x w RGB image whose pixel (y, x) is (seed + 10y + x, 2*seed + x, 255 - 3y) mod 256. */
function pattern(h: number, w: number, seed: number): Buffer {
  const px = Buffer.alloc(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      px[o] = (seed + 10 * y + x) % 256;
      px[o + 1] = (2 * seed + x) % 256;
      px[o + 2] = (255 - 3 * y) % 256;
    }
  }
  return px;
}

async function writePng(file: string, px: Buffer, h: number, w: number, channels: 1 | 3 | 4 = 3): Promise<void> {
  await sharp(px, { raw: { width: w, height: h, channels } }).png().toFile(file);
}

const small = join(root, 'small');
/** Class folders in a non-sorted creation order; labels must follow sorted names. */
const classes = ['zebra', 'ant', 'moth'];
const perClass = 3;
before(async () => {
  for (const [c, name] of classes.entries()) {
    mkdirSync(join(small, name), { recursive: true });
    for (let i = 0; i < perClass; i++) await writePng(join(small, name, `img${i}.png`), pattern(6, 5, c * 10 + i), 6, 5);
    writeFileSync(join(small, name, 'notes.txt'), 'not an image');
  }
});

test('PNG folder loads exact pixels, sorted class labels and names', async () => {
  const progress: number[] = [];
  const { dataset: ds, cache } = await loadImageFolder(small, { cacheDir: false, onProgress: (p) => progress.push(p.done) });
  assert.equal(cache.status, 'disabled');
  assert.deepEqual(ds.classNames, ['ant', 'moth', 'zebra']);
  assert.equal(ds.classes, 3);
  assert.equal(ds.height, 6);
  assert.equal(ds.width, 5);
  assert.equal(ds.channels, 3);
  assert.deepEqual(Array.from(ds.labels), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
  // ant was created as class index 1 of `classes`, image i has seed 10 + i.
  const size = 6 * 5 * 3;
  for (const [label, name] of ['ant', 'moth', 'zebra'].entries()) {
    for (let i = 0; i < perClass; i++) {
      const k = label * perClass + i;
      assert.deepEqual(Buffer.from(ds.images.subarray(k * size, (k + 1) * size)), pattern(6, 5, classes.indexOf(name) * 10 + i), `${name}/img${i}`);
    }
  }
  assert.equal(progress.length, 9);
  assert.equal(Math.max(...progress), 9);
});

test('classes and limitPerClass select folders and files; concurrency 1 gives the same tensor', async () => {
  const { dataset: ds } = await loadImageFolder(small, { cacheDir: false, classes: ['zebra', 'ant'], limitPerClass: 2, concurrency: 1 });
  assert.deepEqual(ds.classNames, ['zebra', 'ant']);
  assert.deepEqual(Array.from(ds.labels), [0, 0, 1, 1]);
  const size = 6 * 5 * 3;
  assert.deepEqual(Buffer.from(ds.images.subarray(0, size)), pattern(6, 5, 0)); // zebra/img0
  assert.deepEqual(Buffer.from(ds.images.subarray(2 * size, 3 * size)), pattern(6, 5, 10)); // ant/img0
  await assert.rejects(loadImageFolder(small, { cacheDir: false, classes: ['wolf'] }), (e: unknown) => e instanceof DataError && e.code === 'FOLDER_LAYOUT');
});

test('a corrupt image fails with an error naming the file', async () => {
  const dir = join(root, 'corrupt');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  await writePng(join(dir, 'a', '0.png'), pattern(4, 4, 1), 4, 4);
  await writePng(join(dir, 'b', '0.png'), pattern(4, 4, 2), 4, 4);
  const jpeg = await sharp(pattern(4, 4, 3), { raw: { width: 4, height: 4, channels: 3 } }).jpeg().toBuffer();
  writeFileSync(join(dir, 'b', '1.jpg'), jpeg.subarray(0, jpeg.length - 40));
  await assert.rejects(loadImageFolder(dir, { cacheDir: false }), (err: unknown) => {
    assert.ok(err instanceof DataError, String(err));
    assert.equal(err.code, 'IMAGE_DECODE');
    assert.ok(err.message.includes(join(dir, 'b', '1.jpg')), err.message);
    assert.equal(err.file, join(dir, 'b', '1.jpg'));
    return true;
  });
});

test('images of different sizes need a target size; with one, shorter side + centre crop', async () => {
  const dir = join(root, 'sizes');
  mkdirSync(join(dir, 'c'), { recursive: true });
  // 8 high x 32 wide: left quarter red, middle half green, right quarter blue.
  const wide = Buffer.alloc(8 * 32 * 3);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 32; x++) {
      const o = (y * 32 + x) * 3;
      const ch = x < 8 ? 0 : x < 24 ? 1 : 2;
      wide[o + ch] = 255;
    }
  }
  await writePng(join(dir, 'c', 'a.png'), wide, 8, 32);
  await writePng(join(dir, 'c', 'b.png'), pattern(4, 4, 5), 4, 4);
  await assert.rejects(loadImageFolder(dir, { cacheDir: false }), (err: unknown) => {
    assert.ok(err instanceof DataError && err.code === 'IMAGE_SIZE_MISMATCH', String(err));
    assert.ok(err.message.includes('b.png'), err.message);
    return true;
  });
  const { dataset: ds } = await loadImageFolder(dir, { cacheDir: false, size: 4 });
  assert.equal(ds.height, 4);
  assert.equal(ds.width, 4);
  // The 8x32 image scales to 4x16; the centre 4x4 (source columns 12..19) lies inside the green
  // middle, far enough from its edges for the resampling kernel.
  for (let p = 0; p < 16; p++) {
    const [r, g, b] = [ds.images[p * 3]!, ds.images[p * 3 + 1]!, ds.images[p * 3 + 2]!];
    assert.ok(r <= 8 && g >= 247 && b <= 8, `pixel ${p}: ${r},${g},${b} should be green`);
  }
  const { dataset: filled } = await loadImageFolder(dir, { cacheDir: false, size: { height: 4, width: 4 }, fit: 'fill' });
  // Stretched to 4x4: the left column is red, the right column blue.
  assert.ok(filled.images[0]! > 200 && filled.images[3 * 3 + 2]! > 200, 'fill keeps the red and blue edges');
});

test('channels are forced: grey -> 3 replicated, RGB -> 1 luminance, alpha flattened', async () => {
  const dir = join(root, 'channels');
  mkdirSync(join(dir, 'k'), { recursive: true });
  await writePng(join(dir, 'k', '0-grey.png'), Buffer.alloc(4 * 4, 77), 4, 4, 1);
  await writePng(join(dir, 'k', '1-white.png'), Buffer.alloc(4 * 4 * 3, 255), 4, 4, 3);
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let p = 0; p < 16; p++) rgba.set([200, 100, 50, 255], p * 4);
  await writePng(join(dir, 'k', '2-rgba.png'), rgba, 4, 4, 4);
  const { dataset: c3 } = await loadImageFolder(dir, { cacheDir: false });
  assert.equal(c3.channels, 3);
  assert.ok(c3.images.subarray(0, 48).every((v) => v === 77), 'grey replicated into 3 channels');
  assert.deepEqual(Array.from(c3.images.subarray(96, 99)), [200, 100, 50], 'opaque RGBA keeps its colour');
  const { dataset: c1 } = await loadImageFolder(dir, { cacheDir: false, channels: 1 });
  assert.equal(c1.channels, 1);
  assert.equal(c1.images.length, 3 * 16);
  assert.ok(c1.images.subarray(0, 16).every((v) => v === 77));
  assert.ok(c1.images.subarray(16, 32).every((v) => v === 255));
});

test('symbolic links are followed: a class folder that is a link, image files that are links; a broken link is named', async () => {
  const dir = join(root, 'linked');
  // ant: a real folder of links to small/ant's images; moth: a link to small/moth; zebra: a real folder
  mkdirSync(join(dir, 'ant'), { recursive: true });
  for (let i = 0; i < perClass; i++) symlinkSync(join(small, 'ant', `img${i}.png`), join(dir, 'ant', `img${i}.png`));
  symlinkSync(join(small, 'moth'), join(dir, 'moth'));
  cpSync(join(small, 'zebra'), join(dir, 'zebra'), { recursive: true });
  const { dataset: linked } = await loadImageFolder(dir, { cacheDir: false });
  const { dataset: plain } = await loadImageFolder(small, { cacheDir: false });
  assert.deepEqual(linked.classNames, ['ant', 'moth', 'zebra']);
  assert.deepEqual(Array.from(linked.labels), Array.from(plain.labels));
  assert.deepEqual(Buffer.from(linked.images), Buffer.from(plain.images));
  symlinkSync(join(root, 'no-such-image.png'), join(dir, 'zebra', 'img9.png'));
  await assert.rejects(loadImageFolder(dir, { cacheDir: false }), (e: unknown) => {
    assert.ok(e instanceof DataError && e.code === 'FOLDER_LAYOUT', String(e));
    assert.ok(e.message.includes(`${join(dir, 'zebra', 'img9.png')}: symbolic link to a missing or unreadable target`), e.message);
    return true;
  });
});

test('empty class folder and missing folder are layout errors', async () => {
  const dir = join(root, 'empty');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  await writePng(join(dir, 'a', '0.png'), pattern(4, 4, 1), 4, 4);
  await assert.rejects(loadImageFolder(dir, { cacheDir: false }), (e: unknown) => e instanceof DataError && e.code === 'FOLDER_LAYOUT' && e.message.includes(join(dir, 'b')));
  await assert.rejects(loadImageFolder(join(root, 'nope'), { cacheDir: false }), (e: unknown) => e instanceof DataError && e.code === 'FOLDER_LAYOUT');
});

test('cache: built, then reused; rebuilt on a changed mtime, a new file, corruption or truncation; keyed on size', async () => {
  const dir = join(root, 'cached');
  const cacheDir = join(root, 'cache');
  for (const name of ['x', 'y']) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < 2; i++) await writePng(join(dir, name, `${i}.png`), pattern(4, 4, name.charCodeAt(0) + i), 4, 4);
  }
  const first = await loadImageFolder(dir, { cacheDir });
  assert.equal(first.cache.status, 'built');
  assert.ok(first.cache.file && statSync(first.cache.file).size > 4 * 48);
  const file = first.cache.file!;

  let decoded = 0;
  const second = await loadImageFolder(dir, { cacheDir, onProgress: () => decoded++ });
  assert.equal(second.cache.status, 'hit');
  assert.equal(decoded, 0, 'a cache hit decodes nothing');
  assert.deepEqual(second.dataset, first.dataset);

  // Same pixels, new mtime: the key changes, the cache is rebuilt (and then hit again).
  const when = new Date(Date.now() - 3600_000);
  utimesSync(join(dir, 'x', '0.png'), when, when);
  const third = await loadImageFolder(dir, { cacheDir });
  assert.equal(third.cache.status, 'rebuilt');
  assert.match(third.cache.reason ?? '', /stale/);
  assert.equal((await loadImageFolder(dir, { cacheDir })).cache.status, 'hit');

  // A new image: rebuilt, with it.
  await writePng(join(dir, 'y', '2.png'), pattern(4, 4, 99), 4, 4);
  const fourth = await loadImageFolder(dir, { cacheDir });
  assert.equal(fourth.cache.status, 'rebuilt');
  assert.equal(fourth.dataset.labels.length, 5);
  assert.deepEqual(Buffer.from(fourth.dataset.images.subarray(4 * 48)), pattern(4, 4, 99));

  // One flipped byte in the tensor: checksum mismatch, rebuilt with the right pixels.
  const bytes = readFileSync(file);
  bytes[bytes.length - 5]! ^= 0x5a;
  writeFileSync(file, bytes);
  const fifth = await loadImageFolder(dir, { cacheDir });
  assert.equal(fifth.cache.status, 'rebuilt');
  assert.match(fifth.cache.reason ?? '', /corrupt: checksum/);
  assert.deepEqual(fifth.dataset, fourth.dataset);

  // A truncated file (an interrupted copy): rebuilt.
  truncateSync(file, statSync(file).size - 10);
  const sixth = await loadImageFolder(dir, { cacheDir });
  assert.equal(sixth.cache.status, 'rebuilt');
  assert.match(sixth.cache.reason ?? '', /corrupt/);
  assert.deepEqual(sixth.dataset, fourth.dataset);

  // Garbage in place of the cache: rebuilt.
  writeFileSync(file, 'not a cache');
  assert.equal((await loadImageFolder(dir, { cacheDir })).cache.status, 'rebuilt');

  // Another target size is another cache entry, not a reuse of this one.
  const resized = await loadImageFolder(dir, { cacheDir, size: 2 });
  assert.equal(resized.cache.status, 'built');
  assert.notEqual(resized.cache.file, file);
  assert.equal(resized.dataset.height, 2);
  assert.equal((await loadImageFolder(dir, { cacheDir })).cache.status, 'hit');
  // Atomic writes leave no temporary files behind.
  assert.deepEqual(readdirSync(cacheDir).filter((f) => !f.endsWith('.gnds')), []);
  assert.equal(readdirSync(cacheDir).length, 2);
});
