// The native image functions of the data loaders (native/image, src/native/image.ts):
//   - the JPEG decoder gives exactly sharp's pixels (both are libjpeg-turbo with its default IDCT
//     and upsampling) over the encodings sharp writes: 4:2:0, 4:4:4, progressive, grey, odd sizes;
//   - it declines what sharp must decode (PNG, CMYK, an ICC profile) and fails on corrupt data;
//   - prepareImage (channels, then the antialiased resize) equals the slow reference below
//     exactly, for 1 to 4 channels, cover and fill, reductions and enlargements;
//   - a folder loads to the same tensor with the native decoder turned off (GNAS_NATIVE_JPEG=0,
//     so sharp decodes every JPEG), so no machine's pixels depend on whether libjpeg is present;
//   - bad arguments are JS errors with a code, not crashes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { loadImageFolder } from '../src/data/image-folder.js';
import { loadAddon } from '../src/native/addon.js';
import { decodeJpeg, decodeJpegSync, nativeJpegDecoder, prepareImage, prepareImageSync, type NativeImage, type NativeImageTarget } from '../src/native/image.js';
import { packageRoot } from '../src/util/package-root.js';

const root = mkdtempSync(join(tmpdir(), 'greedynas-image-'));
after(() => rmSync(root, { recursive: true, force: true }));

const decoder = nativeJpegDecoder();
const noDecoder = decoder.library === null ? `no native JPEG decoder here (${decoder.reason})` : false;

/** Deterministic pixels with edges, gradients and noise (xorshift), `c` channels. */
function pixels(w: number, h: number, c: number, seed: number): Buffer {
  const px = Buffer.alloc(w * h * c);
  let s = seed * 2654435761 || 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      for (let k = 0; k < c; k++) {
        const edge = (x * 3 + y * 5 + k * 7) % 23 < 11 ? 60 : 0;
        px[(y * w + x) * c + k] = ((x * (k + 3) + y * (5 - k) + seed * 11) & 191) + edge + ((s >>> (k * 8)) & 3);
      }
    }
  }
  return px;
}

const rawOf = (w: number, h: number, c: 1 | 2 | 3 | 4) => ({ raw: { width: w, height: h, channels: c } });
const own = (channels: 1 | 3): NativeImageTarget => ({ width: 0, height: 0, fit: 'cover', channels });

async function sharpRaw(bytes: Buffer): Promise<NativeImage> {
  const { data, info } = await sharp(bytes).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

test('native JPEG decode equals sharp pixel for pixel over 4:2:0, 4:4:4, progressive, grey and odd sizes', { skip: noDecoder }, async () => {
  const cases: Array<[string, Promise<Buffer>]> = [
    ['4:2:0 q85 61x47', sharp(pixels(61, 47, 3, 1), rawOf(61, 47, 3)).jpeg({ quality: 85 }).toBuffer()],
    ['4:4:4 q95 33x17', sharp(pixels(33, 17, 3, 2), rawOf(33, 17, 3)).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['progressive 4:2:0 80x64', sharp(pixels(80, 64, 3, 3), rawOf(80, 64, 3)).jpeg({ progressive: true }).toBuffer()],
    ['grey 29x31', sharp(pixels(29, 31, 1, 4), rawOf(29, 31, 1)).jpeg({ quality: 70 }).toBuffer()],
    ['4:2:0 q50 1x1', sharp(pixels(1, 1, 3, 5), rawOf(1, 1, 3)).jpeg({ quality: 50 }).toBuffer()],
    ['4:2:0 q90 257x129', sharp(pixels(257, 129, 3, 6), rawOf(257, 129, 3)).jpeg({ quality: 90 }).toBuffer()],
  ];
  for (const [name, made] of cases) {
    const bytes = await made;
    const native = decodeJpegSync(bytes, own(3));
    assert.ok(native !== null, `${name}: the native decoder declined it`);
    const ref = await sharpRaw(bytes);
    assert.equal(ref.channels, 3, name);
    assert.deepEqual([native.width, native.height, native.channels], [ref.width, ref.height, 3], name);
    assert.ok(Buffer.from(native.data).equals(Buffer.from(ref.data)), `${name}: pixels differ from sharp's`);
    // the Promise form gives the same
    const viaPool = await decodeJpeg(bytes, own(3));
    assert.ok(viaPool !== null && Buffer.from(viaPool.data).equals(Buffer.from(native.data)), `${name}: async differs`);
  }
});

test('the native decoder declines PNG, CMYK and colour-managed JPEGs, and fails on corrupt ones', { skip: noDecoder }, async () => {
  const px = pixels(24, 16, 3, 7);
  const png = await sharp(px, rawOf(24, 16, 3)).png().toBuffer();
  const cmyk = await sharp(px, rawOf(24, 16, 3)).toColourspace('cmyk').jpeg().toBuffer();
  const icc = await sharp(px, rawOf(24, 16, 3)).withIccProfile('p3').jpeg().toBuffer();
  for (const [name, bytes] of [['PNG', png], ['CMYK JPEG', cmyk], ['JPEG with a P3 profile', icc]] as const) {
    assert.equal(decodeJpegSync(bytes, own(3)), null, `${name} must go to sharp`);
  }
  const good = await sharp(px, rawOf(24, 16, 3)).jpeg().toBuffer();
  const truncated = good.subarray(0, good.length - 40);
  const garbled = Buffer.from(good);
  for (let i = Math.floor(good.length / 2); i < Math.floor(good.length / 2) + 24; i++) garbled[i] = 0xff;
  for (const [name, bytes] of [['truncated', truncated], ['garbled', garbled]] as const) {
    assert.throws(
      () => decodeJpegSync(bytes, own(3)),
      (e: Error & { code?: string }) => e.code === 'GNAS_IMAGE_DECODE' && /JPEG decode failed: \S/.test(e.message),
      name,
    );
    await assert.rejects(decodeJpeg(bytes, own(3)), (e: Error & { code?: string }) => e.code === 'GNAS_IMAGE_DECODE', `${name} (async)`);
  }
});

// ---- the slow reference of prepareImage: the arithmetic native/image/prepare.cpp documents ----

function referenceChannels(img: NativeImage, channels: 1 | 3): NativeImage {
  const { data, width, height, channels: cin } = img;
  if (cin === channels) return img;
  const out = new Uint8Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const px = Array.from(data.subarray(p * cin, (p + 1) * cin));
    let [r, g, b] = cin >= 3 ? px : [px[0]!, px[0]!, px[0]!];
    if (cin === 2 || cin === 4) {
      const a = px[cin - 1]!;
      [r, g, b] = [r!, g!, b!].map((v) => Math.floor((v * a + 127) / 255));
    }
    if (channels === 1) out[p] = cin >= 3 ? Math.floor((299 * r! + 587 * g! + 114 * b! + 500) / 1000) : r!;
    else out.set([r!, g!, b!], p * 3);
  }
  return { data: out, width, height, channels };
}

/** Weights of output index i along an axis: [first source index, normalised weights]. */
function referenceWeights(inSize: number, i: number, scale: number, offset: number): [number, number[]] {
  const support = Math.max(1, 1 / scale);
  const centre = offset + (i + 0.5) / scale;
  const lo = Math.max(0, Math.floor(centre - support));
  const hi = Math.min(inSize, Math.ceil(centre + support));
  const w: number[] = [];
  for (let j = lo; j < hi; j++) w.push(Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support));
  const sum = w.reduce((a, b) => a + b, 0);
  return [lo, w.map((v) => v / sum)];
}

function referencePrepare(img: NativeImage, t: NativeImageTarget): NativeImage {
  const src = referenceChannels(img, t.channels);
  if (t.width === 0 || (t.width === src.width && t.height === src.height)) return src;
  const { width: W, height: H, channels: C } = src;
  let sx = t.width / W;
  let sy = t.height / H;
  if (t.fit === 'cover') sx = sy = Math.max(sx, sy);
  const x0 = (W - t.width / sx) / 2;
  const y0 = (H - t.height / sy) / 2;
  // rows first (stored as float32, as the native code stores them), then columns
  const rows = Array.from({ length: H }, (_, y) =>
    Array.from({ length: t.width * C }, (_, xc) => {
      const [first, w] = referenceWeights(W, Math.floor(xc / C), sx, x0);
      let acc = 0;
      for (let k = 0; k < w.length; k++) acc += w[k]! * src.data[(y * W + first + k) * C + (xc % C)]!;
      return Math.fround(acc);
    }),
  );
  const out = new Uint8Array(t.width * t.height * C);
  for (let y = 0; y < t.height; y++) {
    const [first, w] = referenceWeights(H, y, sy, y0);
    for (let i = 0; i < t.width * C; i++) {
      let acc = 0;
      for (let k = 0; k < w.length; k++) acc += w[k]! * rows[first + k]![i]!;
      out[y * t.width * C + i] = Math.min(255, Math.max(0, Math.floor(acc + 0.5)));
    }
  }
  return { data: out, width: t.width, height: t.height, channels: C };
}

test('prepareImage equals the slow reference exactly: 1-4 channels in, 1 or 3 out, cover and fill, down and up', async () => {
  const shapes: Array<[number, number, 1 | 2 | 3 | 4]> = [[61, 47, 3], [40, 79, 4], [9, 13, 1], [17, 8, 2], [5, 5, 3]];
  const targets: Array<[number, number, 'cover' | 'fill']> = [[28, 28, 'cover'], [28, 28, 'fill'], [12, 20, 'cover'], [32, 24, 'fill'], [3, 7, 'cover']];
  let checked = 0;
  for (const [w, h, c] of shapes) {
    const img: NativeImage = { data: pixels(w, h, c, w * 100 + h), width: w, height: h, channels: c };
    for (const [tw, th, fit] of targets) {
      for (const channels of [1, 3] as const) {
        const t: NativeImageTarget = { width: tw, height: th, fit, channels };
        const got = prepareImageSync(img, t);
        const want = referencePrepare(img, t);
        assert.deepEqual([got.width, got.height, got.channels], [want.width, want.height, want.channels]);
        const bad = got.data.findIndex((v, i) => v !== want.data[i]);
        assert.equal(bad, -1, `${w}x${h}x${c} -> ${tw}x${th} ${fit} ${channels}ch: byte ${bad} is ${got.data[bad]}, the reference ${want.data[bad]}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 50);
  // the same size keeps the pixels; a resize of a flat image keeps it flat
  const flat: NativeImage = { data: new Uint8Array(30 * 20 * 3).fill(173), width: 30, height: 20, channels: 3 };
  assert.ok((await prepareImage(flat, { width: 11, height: 7, fit: 'fill', channels: 3 })).data.every((v) => v === 173));
  const same = pixels(10, 6, 3, 9);
  assert.ok(Buffer.from(prepareImageSync({ data: same, width: 10, height: 6, channels: 3 }, { width: 10, height: 6, fit: 'cover', channels: 3 }).data).equals(same));
});

test('bad arguments to the native image functions are JS errors with a code', () => {
  const addon = loadAddon();
  const t: NativeImageTarget = { width: 4, height: 4, fit: 'cover', channels: 3 };
  const code = (c: string) => (e: Error & { code?: string }) => e.code === c;
  assert.throws(() => addon.decodeImage([1, 2, 3] as unknown as Uint8Array, t, false), code('GNAS_INVALID_ARGUMENT'));
  assert.throws(() => addon.decodeImage(new Uint8Array(4), { ...t, fit: 'stretch' as 'fill' }, false), code('GNAS_INVALID_ARGUMENT'));
  assert.throws(() => addon.prepareImage(new Uint8Array(10), 2, 2, 3, t, false), /bytes for 2x2x3/);
  assert.throws(() => addon.prepareImage(new Uint8Array(4 * 5), 2, 2, 5, t, false), /1 to 4 channels/);
  assert.throws(() => addon.prepareImage(new Uint8Array(12), 2, 2, 3, { ...t, channels: 2 as 3 }, false), /target channels 2/);
  assert.throws(() => addon.prepareImage(new Uint8Array(12), 2, 2, 3, { ...t, height: 0 }, false), code('GNAS_INVALID_ARGUMENT'));
  assert.equal(addon.decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), t, false), null, 'not a JPEG: declined');
  // a bad target is refused before anything is decoded, JPEG or not
  assert.throws(() => addon.decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), { ...t, width: -4 }, false), /target size -4x4/);
});

test('a JPEG folder loads to the same tensor with the native decoder turned off (sharp decodes every JPEG)', { skip: noDecoder }, async () => {
  const dir = join(root, 'jpegs');
  for (const [c, cls] of ['a', 'b'].entries()) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const w = 30 + 7 * i + c;
      const h = 22 + 5 * i;
      await sharp(pixels(w, h, 3, 10 * c + i), rawOf(w, h, 3)).jpeg({ quality: 80 + i }).toFile(join(dir, cls, `${i}.jpg`));
    }
  }
  const script = join(root, 'load.mjs');
  const mod = JSON.stringify(join(packageRoot(), '.test-build', 'src', 'data', 'image-folder.js'));
  writeFileSync(
    script,
    `import { loadImageFolder } from ${mod};
     const out = {};
     for (const [name, opts] of Object.entries({ rgb: { size: 16 }, grey: { size: { height: 12, width: 20 }, fit: 'fill', channels: 1 } })) {
       const r = await loadImageFolder(${JSON.stringify(dir)}, { ...opts, cacheDir: false });
       out[name] = Buffer.from(r.dataset.images).toString('base64');
     }
     console.log(JSON.stringify(out));`,
  );
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  };
  const native = run({});
  const viaSharp = run({ GNAS_NATIVE_JPEG: '0' });
  assert.equal(Object.keys(native).length, 2);
  for (const k of Object.keys(native)) assert.equal(native[k], viaSharp[k], `${k}: the tensors differ`);
  // and in this process (native decoder on) the in-memory loader agrees with the child's
  const here = await loadImageFolder(dir, { size: 16, cacheDir: false });
  assert.equal(Buffer.from(here.dataset.images).toString('base64'), native['rgb']);
  // the child really had the decoder off
  const imageMod = JSON.stringify(join(packageRoot(), '.test-build', 'src', 'native', 'image.js'));
  const probe = join(root, 'probe.mjs');
  writeFileSync(probe, `import { nativeJpegDecoder } from ${imageMod}; console.log(JSON.stringify(nativeJpegDecoder()));`);
  const off = spawnSync(process.execPath, [probe], { encoding: 'utf8', env: { ...process.env, GNAS_NATIVE_JPEG: '0' } });
  assert.deepEqual(JSON.parse(off.stdout), { library: null, reason: 'turned off by GNAS_NATIVE_JPEG=0' });
});

test('damaged JPEGs (bytes flipped, cut, repeated) decode or fail with GNAS_IMAGE_DECODE, never crash', { skip: noDecoder }, async () => {
  const good = await sharp(pixels(45, 37, 3, 11), rawOf(45, 37, 3)).jpeg({ quality: 75 }).toBuffer();
  let state = 12345;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const outcomes = { decoded: 0, failed: 0, declined: 0 };
  for (let i = 0; i < 400; i++) {
    let bytes = Buffer.from(good);
    const kind = i % 4;
    if (kind === 0) for (let k = 0; k < 1 + next(8); k++) bytes[3 + next(bytes.length - 3)] = next(256);
    else if (kind === 1) bytes = bytes.subarray(0, 3 + next(bytes.length - 3));
    else if (kind === 2) {
      const at = 3 + next(bytes.length - 3);
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at - next(Math.min(at, 64)))]);
    } else bytes[2 + next(200)] = 0xff;
    try {
      const img = decodeJpegSync(bytes, { width: 16, height: 16, fit: 'cover', channels: 3 });
      if (img === null) outcomes.declined++;
      else {
        assert.equal(img.data.length, 16 * 16 * 3);
        outcomes.decoded++;
      }
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'GNAS_IMAGE_DECODE', String(e));
      outcomes.failed++;
    }
  }
  assert.equal(outcomes.decoded + outcomes.failed + outcomes.declined, 400);
  assert.ok(outcomes.failed > 50, `most damage must be detected: ${JSON.stringify(outcomes)}`);
});
