// Augmentations on crafted images whose pixel values identify their position: pad-and-crop and
// flip against a per-pixel reference over every offset, bilinear resize against the closed form
// on a linear ramp, random-resized-crop boxes inside their ranges (and the fallback), determinism
// for a seed, and the defaults per image size.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  augmentBatch,
  defaultAugmentation,
  padCropImage,
  resizeCropImage,
  sampleResizedCropBox,
  type AugmentSpec,
} from '../src/data/augment.js';
import { Rng, type RandomSource } from '../src/util/rng.js';

/** h x w x c image with value (y * w + x) * c + k + 1 (mod 256; never 0 for small images). */
function ids(h: number, w: number, c: number): Uint8Array {
  return Uint8Array.from({ length: h * w * c }, (_, i) => (i + 1) % 256);
}

/** Per-pixel reference of pad-crop-flip, written from the definition. */
function refPadCrop(src: Uint8Array, h: number, w: number, c: number, pad: number, dy: number, dx: number, flip: boolean): Uint8Array {
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const cx = flip ? w - 1 - x : x; // flip after cropping
      const sy = y + dy - pad;
      const sx = cx + dx - pad;
      for (let k = 0; k < c; k++) {
        out[(y * w + x) * c + k] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[(sy * w + sx) * c + k]! : 0;
      }
    }
  }
  return out;
}

test('pad-crop matches the per-pixel definition for every offset, with and without flip', () => {
  for (const [h, w, c, pad] of [
    [7, 5, 3, 2],
    [6, 6, 1, 4],
    [4, 9, 2, 0],
  ] as const) {
    const src = ids(h, w, c);
    for (let dy = 0; dy <= 2 * pad; dy++) {
      for (let dx = 0; dx <= 2 * pad; dx++) {
        for (const flip of [false, true]) {
          const out = new Uint8Array(h * w * c).fill(0xee); // stale bytes must all be overwritten
          padCropImage(out, src, h, w, c, pad, dy, dx, flip);
          assert.deepEqual(out, refPadCrop(src, h, w, c, pad, dy, dx, flip), `h${h} w${w} c${c} pad${pad} dy${dy} dx${dx} flip${flip}`);
        }
      }
    }
  }
});

test('crafted 2x3 RGB image: crop shifts with zero fill, flip mirrors columns', () => {
  // Pixels (y, x) -> [10y + x, 100 + 10y + x, 200 + 10y + x].
  const src = Uint8Array.from([0, 100, 200, 1, 101, 201, 2, 102, 202, 10, 110, 210, 11, 111, 211, 12, 112, 212]);
  const out = new Uint8Array(18);
  padCropImage(out, src, 2, 3, 3, 0, 0, 0, true);
  assert.deepEqual(Array.from(out), [2, 102, 202, 1, 101, 201, 0, 100, 200, 12, 112, 212, 11, 111, 211, 10, 110, 210]);
  // pad 1, dy 0, dx 2: the window starts one row above and one column right: row 0 is zero padding.
  padCropImage(out, src, 2, 3, 3, 1, 0, 2, false);
  assert.deepEqual(Array.from(out), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 101, 201, 2, 102, 202, 0, 0, 0]);
});

test('bilinear resize: exact copy at scale 1, closed form on a ramp, flip mirrors', () => {
  const h = 3;
  const w = 8;
  // A horizontal ramp: value 10x in every row and channel.
  const ramp = Uint8Array.from({ length: h * w * 2 }, (_, i) => 10 * Math.floor((i / 2) % w));
  const copy = new Uint8Array(2 * 4 * 2);
  resizeCropImage(copy, 2, 4, ramp, h, w, 2, { top: 1, left: 3, height: 2, width: 4 }, false);
  assert.deepEqual(Array.from(copy), [30, 30, 40, 40, 50, 50, 60, 60, 30, 30, 40, 40, 50, 50, 60, 60]);

  for (const ow of [16, 4, 5]) {
    const out = new Uint8Array(h * ow * 2);
    resizeCropImage(out, h, ow, ramp, h, w, 2, { top: 0, left: 0, height: h, width: w }, false);
    const flipped = new Uint8Array(h * ow * 2);
    resizeCropImage(flipped, h, ow, ramp, h, w, 2, { top: 0, left: 0, height: h, width: w }, true);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < ow; x++) {
        const t = Math.min(Math.max((x + 0.5) * (w / ow) - 0.5, 0), w - 1);
        const expected = Math.round(10 * t);
        for (let k = 0; k < 2; k++) {
          assert.equal(out[(y * ow + x) * 2 + k], expected, `ow ${ow} x ${x}`);
          assert.equal(flipped[(y * ow + (ow - 1 - x)) * 2 + k], expected, `flipped ow ${ow} x ${x}`);
        }
      }
    }
  }
  assert.throws(() => resizeCropImage(new Uint8Array(4), 2, 2, ramp, h, w, 2, { top: 2, left: 0, height: 2, width: 2 }, false));
});

test('random-resized-crop boxes stay inside the image and the scale / ratio ranges', () => {
  const rng = new Rng(1);
  const [h, w] = [40, 60];
  let [minArea, maxArea] = [1, 0];
  for (let i = 0; i < 2000; i++) {
    const b = sampleResizedCropBox(h, w, rng);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= h && b.left + b.width <= w, JSON.stringify(b));
    const area = (b.height * b.width) / (h * w);
    const ratio = b.width / b.height;
    [minArea, maxArea] = [Math.min(minArea, area), Math.max(maxArea, area)];
    // Rounding the sides to integers moves area and ratio a little beyond the continuous ranges.
    assert.ok(area >= 0.06 && area <= 1, `area ${area}`);
    assert.ok(ratio >= 0.75 * 0.8 && ratio <= (4 / 3) * 1.25, `ratio ${ratio}`);
  }
  // The largest box of ratio <= 4/3 in a 40x60 image is 40x53, area 0.88.
  assert.ok(minArea < 0.12 && maxArea > 0.8, `areas drawn span [${minArea}, ${maxArea}]`);
  // No try can fit a square-ish box of the whole area in a 10 x 100 strip: fallback to the
  // centred box with the ratio clamped to 4/3.
  const always = { float: () => 0.5, int: (n: number) => n - 1 } satisfies RandomSource;
  assert.deepEqual(sampleResizedCropBox(10, 100, always, [1, 1]), { top: 0, left: 43, height: 10, width: 13 });
  // Tall strip: width / height clamped up to 3/4, so height = round(10 / 0.75) = 13.
  assert.deepEqual(sampleResizedCropBox(100, 10, always, [1, 1]), { top: 43, left: 0, height: 13, width: 10 });
});

test('augmentBatch is a pure function of the RNG stream; flip off never mirrors', () => {
  const shape = { height: 8, width: 8, channels: 3 };
  const n = 50;
  const images = Uint8Array.from({ length: n * 8 * 8 * 3 }, (_, i) => (i * 31 + 7) % 251);
  for (const spec of [
    { crop: 'pad', pad: 2, flip: true },
    { crop: 'resized', size: { height: 5, width: 6 }, flip: true },
  ] as AugmentSpec[]) {
    const a = augmentBatch(images, n, shape, spec, new Rng(42));
    const b = augmentBatch(images, n, shape, spec, new Rng(42));
    const c = augmentBatch(images, n, shape, spec, new Rng(43));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const outSize = spec.crop === 'resized' ? 5 * 6 * 3 : 8 * 8 * 3;
    assert.equal(a.length, n * outSize);
  }
  // crop none + flip off: identity. crop none + flip on: every image is itself or its mirror, both occur.
  assert.deepEqual(augmentBatch(images, n, shape, { crop: 'none', flip: false }, new Rng(1)), images);
  const f = augmentBatch(images, n, shape, { crop: 'none', flip: true }, new Rng(1));
  let mirrored = 0;
  for (let i = 0; i < n; i++) {
    const src = images.subarray(i * 192, (i + 1) * 192);
    const got = f.subarray(i * 192, (i + 1) * 192);
    const mirror = refPadCrop(src, 8, 8, 3, 0, 0, 0, true);
    if (Buffer.compare(got, mirror) === 0) mirrored++;
    else assert.deepEqual(got, src);
  }
  assert.ok(mirrored > 10 && mirrored < 40, `mirrored ${mirrored} of ${n}`);
});

test('pad-crop draws every offset and flips about half of the images', () => {
  // A black 32x32 image with a marker: 255 at (16, 15) and 128 to its right at (16, 16). After
  // pad-crop the 255 sits at (16 + pad - dy, cx) with cx = 15 + pad - dx, mirrored to 31 - cx
  // when flipped, and the 128 is then on its left instead of its right.
  const h = 32;
  const pad = 4;
  const n = 3000;
  const images = new Uint8Array(n * h * h);
  for (let i = 0; i < n; i++) {
    images[i * h * h + 16 * h + 15] = 255;
    images[i * h * h + 16 * h + 16] = 128;
  }
  const out = augmentBatch(images, n, { height: h, width: h, channels: 1 }, { crop: 'pad', pad, flip: true }, new Rng(7));
  const counts = new Map<string, number>();
  let flipped = 0;
  for (let i = 0; i < n; i++) {
    const img = out.subarray(i * h * h, (i + 1) * h * h);
    const p = img.indexOf(255);
    const [y, x] = [Math.floor(p / h), p % h];
    const isFlipped = img[p - 1] === 128;
    assert.ok(isFlipped || img[p + 1] === 128, `image ${i}: marker broken`);
    const cx = isFlipped ? h - 1 - x : x;
    const dy = 16 + pad - y;
    const dx = 15 + pad - cx;
    assert.ok(dy >= 0 && dy <= 2 * pad && dx >= 0 && dx <= 2 * pad, `offset ${dy},${dx}`);
    counts.set(`${dy},${dx}`, (counts.get(`${dy},${dx}`) ?? 0) + 1);
    if (isFlipped) flipped++;
  }
  assert.equal(counts.size, 81, 'all 9 x 9 offsets occur');
  // Expected 3000 / 81 = 37 per offset; 10 and 70 are far outside any plausible deviation.
  for (const [k, v] of counts) assert.ok(v > 10 && v < 70, `offset ${k} drawn ${v} times`);
  assert.ok(flipped > n * 0.45 && flipped < n * 0.55, `flipped ${flipped}`);
});

test('default augmentation per image size', () => {
  assert.deepEqual(defaultAugmentation({ height: 28, width: 28 }), { crop: 'pad', pad: 2, flip: true });
  assert.deepEqual(defaultAugmentation({ height: 32, width: 32 }, { flip: false }), { crop: 'pad', pad: 4, flip: false });
  assert.deepEqual(defaultAugmentation({ height: 224, width: 224 }), { crop: 'resized', size: { height: 224, width: 224 }, flip: true });
});

test('centre crop is exact and rejects a size larger than the image', () => {
  const shape = { height: 6, width: 6, channels: 1 };
  const img = ids(6, 6, 1);
  const out = augmentBatch(img, 1, shape, { crop: 'center', size: { height: 2, width: 4 }, flip: false }, new Rng(0));
  assert.deepEqual(Array.from(out), [14, 15, 16, 17, 20, 21, 22, 23]);
  assert.throws(() => augmentBatch(img, 1, shape, { crop: 'center', size: { height: 7, width: 4 }, flip: false }, new Rng(0)));
});
