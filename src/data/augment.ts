// Training augmentations on uint8 NHWC batches, in TypeScript over typed arrays, every random
// choice drawn from an injected RandomSource (the loader passes a keyed Rng stream of
// src/util/rng.ts, so a seeded stream reproduces a batch exactly):
//   pad-and-crop  zero-pad each side by `pad`, take a random H x W window (CIFAR / MNIST style);
//   random-resized-crop  a random box of area share in `scale` and aspect ratio in `ratio`,
//                 resized bilinearly (half-pixel centres, no antialiasing) to the output size;
//   centre crop   the deterministic evaluation counterpart of random-resized-crop;
//   horizontal flip with probability 1/2, switchable (off where a mirror image is another class).
// Draw order per image (part of the reproducibility contract): the crop's draws, then one
// float() for the flip when flipping is on.
import type { RandomSource } from '../util/rng.js';
import { DataError, isPositiveInt } from './types.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface AugmentSpec {
  /** 'none', 'pad' (pad-and-crop), 'resized' (random-resized-crop) or 'center' (centre crop to `size`). */
  crop: 'none' | 'pad' | 'resized' | 'center';
  /** Zero padding of 'pad' on each side. */
  pad?: number;
  /** Output size of 'resized' and 'center' (default: the input size). */
  size?: { height: number; width: number };
  /** Area share range of 'resized' (default [0.08, 1]). */
  scale?: [number, number];
  /** Aspect ratio (width / height) range of 'resized' (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Random horizontal flip with probability 1/2. */
  flip: boolean;
}

export const DEFAULT_RRC_SCALE: [number, number] = [0.08, 1];
export const DEFAULT_RRC_RATIO: [number, number] = [3 / 4, 4 / 3];

/**
 * The training augmentation for images of this shape: pad-and-crop for small images (pad 2 up to
 * 28 pixels, pad 4 up to 63), random-resized-crop to the same size from 64 pixels up; flip as asked
 * (default on).
 */
export function defaultAugmentation(shape: Pick<ImageShape, 'height' | 'width'>, options: { flip?: boolean } = {}): AugmentSpec {
  const flip = options.flip ?? true;
  const side = Math.min(shape.height, shape.width);
  if (side >= 64) return { crop: 'resized', size: { height: shape.height, width: shape.width }, flip };
  return { crop: 'pad', pad: side <= 28 ? 2 : 4, flip };
}

/** The evaluation transform matching defaultAugmentation: none (small images) or a centre crop. */
export function evalTransform(shape: Pick<ImageShape, 'height' | 'width'>, size?: { height: number; width: number }): AugmentSpec {
  if (size === undefined || (size.height === shape.height && size.width === shape.width)) return { crop: 'none', flip: false };
  return { crop: 'center', size, flip: false };
}

/** Output shape of `spec` applied to images of shape `input`. */
export function augmentedShape(spec: AugmentSpec, input: ImageShape): ImageShape {
  if ((spec.crop === 'resized' || spec.crop === 'center') && spec.size) {
    return { height: spec.size.height, width: spec.size.width, channels: input.channels };
  }
  return { ...input };
}

/** Throws BAD_ARGUMENT unless `spec` is usable on images of shape `input`. */
export function checkAugmentSpec(spec: AugmentSpec, input: ImageShape): void {
  if (!['none', 'pad', 'resized', 'center'].includes(spec.crop)) {
    throw new DataError('BAD_ARGUMENT', `augment.crop: expected 'none', 'pad', 'resized' or 'center', got ${String(spec.crop)}`);
  }
  if (typeof spec.flip !== 'boolean') throw new DataError('BAD_ARGUMENT', `augment.flip: expected a boolean, got ${String(spec.flip)}`);
  if (spec.crop === 'pad' && !(Number.isInteger(spec.pad) && spec.pad! >= 0)) {
    throw new DataError('BAD_ARGUMENT', `augment.pad: expected a non-negative integer, got ${String(spec.pad)}`);
  }
  if (spec.size !== undefined && (!isPositiveInt(spec.size.height) || !isPositiveInt(spec.size.width))) {
    throw new DataError('BAD_ARGUMENT', `augment.size: expected {height, width} of positive integers, got ${JSON.stringify(spec.size)}`);
  }
  if (spec.crop === 'center' && spec.size && (spec.size.height > input.height || spec.size.width > input.width)) {
    throw new DataError('BAD_ARGUMENT', `augment.size: centre crop ${spec.size.height}x${spec.size.width} is larger than the ${input.height}x${input.width} images`);
  }
  for (const [name, r, lo] of [['scale', spec.scale, 0], ['ratio', spec.ratio, 0]] as const) {
    if (r !== undefined && !(r.length === 2 && r[0] > lo && r[0] <= r[1])) {
      throw new DataError('BAD_ARGUMENT', `augment.${name}: expected [min, max] with 0 < min <= max, got ${JSON.stringify(r)}`);
    }
  }
}

/**
 * One image: out = window (dy, dx) of the image zero-padded by `pad`, mirrored when `flip`.
 * out[y, x] = src[y + dy - pad, (flip ? w-1-x : x) + dx - pad], or 0 outside the image.
 * dy, dx in [0, 2*pad]. out and src: h*w*c bytes; they must not overlap.
 */
export function padCropImage(
  out: Uint8Array,
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  pad: number,
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const row = w * c;
  for (let y = 0; y < h; y++) {
    const sy = y + dy - pad;
    const o = y * row;
    if (sy < 0 || sy >= h) {
      out.fill(0, o, o + row);
      continue;
    }
    const s = sy * row;
    if (!flip) {
      // Valid x: 0 <= x + dx - pad < w.
      const x0 = Math.min(w, Math.max(0, pad - dx));
      const x1 = Math.max(x0, Math.min(w, w + pad - dx));
      out.fill(0, o, o + x0 * c);
      if (x1 > x0) out.set(src.subarray(s + (x0 + dx - pad) * c, s + (x1 + dx - pad) * c), o + x0 * c);
      out.fill(0, o + x1 * c, o + row);
    } else {
      // Valid x: 0 <= (w - 1 - x) + dx - pad < w.
      const x0 = Math.min(w, Math.max(0, dx - pad));
      const x1 = Math.max(x0, Math.min(w, w + dx - pad));
      out.fill(0, o, o + x0 * c);
      out.fill(0, o + x1 * c, o + row);
      let sxo = s + (w - 1 - x0 + dx - pad) * c;
      let ox = o + x0 * c;
      if (c === 1) {
        for (let x = x0; x < x1; x++) out[ox++] = src[sxo--]!;
      } else if (c === 3) {
        for (let x = x0; x < x1; x++, sxo -= 3) {
          out[ox++] = src[sxo]!;
          out[ox++] = src[sxo + 1]!;
          out[ox++] = src[sxo + 2]!;
        }
      } else {
        for (let x = x0; x < x1; x++, sxo -= c) for (let k = 0; k < c; k++) out[ox++] = src[sxo + k]!;
      }
    }
  }
}

/** A crop box inside an image: rows [top, top+height), columns [left, left+width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Draws a random-resized-crop box: up to 10 tries of an area share uniform in `scale` and a
 * log-uniform aspect ratio (width / height) in `ratio`, with a uniform position; if no try fits,
 * the largest centred box whose ratio is clamped into `ratio`.
 */
export function sampleResizedCropBox(
  h: number,
  w: number,
  rng: RandomSource,
  scale: [number, number] = DEFAULT_RRC_SCALE,
  ratio: [number, number] = DEFAULT_RRC_RATIO,
): CropBox {
  const area = h * w;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.float());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.float());
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
      return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), height: ch, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.max(1, Math.min(h, Math.round(w / ratio[0])));
  else if (inRatio > ratio[1]) cw = Math.max(1, Math.min(w, Math.round(h * ratio[1])));
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

/**
 * One image: out (oh x ow x c) = bilinear resize of box `box` of src (h x w x c), mirrored when
 * `flip`. Sample positions use half-pixel centres and are clamped to the box, so the result is the
 * box cropped first and then resized; a box of the output's size is copied exactly.
 */
export function resizeCropImage(
  out: Uint8Array,
  oh: number,
  ow: number,
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  box: CropBox,
  flip: boolean,
): void {
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 || box.top + box.height > h || box.left + box.width > w) {
    throw new DataError('BAD_ARGUMENT', `box: ${JSON.stringify(box)} is not inside a ${h}x${w} image`);
  }
  const x0 = new Int32Array(ow);
  const x1 = new Int32Array(ow);
  const fx = new Float64Array(ow);
  const sxScale = box.width / ow;
  for (let ox = 0; ox < ow; ox++) {
    const t = Math.min(Math.max((ox + 0.5) * sxScale - 0.5, 0), box.width - 1);
    const i = Math.floor(t);
    const dst = flip ? ow - 1 - ox : ox;
    x0[dst] = (box.left + i) * c;
    x1[dst] = (box.left + Math.min(i + 1, box.width - 1)) * c;
    fx[dst] = t - i;
  }
  const syScale = box.height / oh;
  const row = w * c;
  for (let oy = 0; oy < oh; oy++) {
    const t = Math.min(Math.max((oy + 0.5) * syScale - 0.5, 0), box.height - 1);
    const i = Math.floor(t);
    const fy = t - i;
    const r0 = (box.top + i) * row;
    const r1 = (box.top + Math.min(i + 1, box.height - 1)) * row;
    let o = oy * ow * c;
    // Values stay in [0, 255]; storing v + 0.5 into the Uint8Array truncates, i.e. rounds half up.
    for (let ox = 0; ox < ow; ox++) {
      const a0 = r0 + x0[ox]!;
      const b0 = r0 + x1[ox]!;
      const a1 = r1 + x0[ox]!;
      const b1 = r1 + x1[ox]!;
      const wx = fx[ox]!;
      for (let k = 0; k < c; k++) {
        const p00 = src[a0 + k]!;
        const p10 = src[a1 + k]!;
        const top = p00 + (src[b0 + k]! - p00) * wx;
        const bot = p10 + (src[b1 + k]! - p10) * wx;
        out[o++] = top + (bot - top) * fy + 0.5;
      }
    }
  }
}

/**
 * The random choices of one image's augmentation: the pad-crop offsets (dy, dx), the
 * random-resized-crop box, the flip. They depend only on the spec, the image shape and the RNG,
 * never on the pixels, so they can be drawn on one thread and applied on another (the streaming
 * loader's workers) with the same result as augmentGather.
 */
export interface AugmentDraw {
  dy: number;
  dx: number;
  box: CropBox | null;
  flip: boolean;
}

/** Draws the choices of `count` images, image by image in the documented order (crop, then flip). */
export function drawAugmentations(spec: AugmentSpec, shape: ImageShape, count: number, rng: RandomSource): AugmentDraw[] {
  checkAugmentSpec(spec, shape);
  const { height: h, width: w } = shape;
  const out = augmentedShape(spec, shape);
  const draws: AugmentDraw[] = [];
  for (let n = 0; n < count; n++) {
    const d: AugmentDraw = { dy: 0, dx: 0, box: null, flip: false };
    if (spec.crop === 'pad') {
      d.dy = rng.int(2 * spec.pad! + 1);
      d.dx = rng.int(2 * spec.pad! + 1);
    } else if (spec.crop === 'resized') {
      d.box = sampleResizedCropBox(h, w, rng, spec.scale ?? DEFAULT_RRC_SCALE, spec.ratio ?? DEFAULT_RRC_RATIO);
    } else if (spec.crop === 'center') {
      d.box = { top: Math.floor((h - out.height) / 2), left: Math.floor((w - out.width) / 2), height: out.height, width: out.width };
    }
    d.flip = spec.flip && rng.float() < 0.5;
    draws.push(d);
  }
  return draws;
}

/** Writes image `src` (of `shape`) augmented by `draw` into `dst` (augmentedShape(spec, shape)). */
export function applyAugmentation(dst: Uint8Array, src: Uint8Array, shape: ImageShape, spec: AugmentSpec, draw: AugmentDraw): void {
  const { height: h, width: w, channels: c } = shape;
  switch (spec.crop) {
    case 'none':
      if (draw.flip) padCropImage(dst, src, h, w, c, 0, 0, 0, true);
      else dst.set(src);
      break;
    case 'pad':
      padCropImage(dst, src, h, w, c, spec.pad!, draw.dy, draw.dx, draw.flip);
      break;
    case 'resized':
    case 'center': {
      const out = augmentedShape(spec, shape);
      resizeCropImage(dst, out.height, out.width, src, h, w, c, draw.box!, draw.flip);
      break;
    }
  }
}

/**
 * Applies `spec` to the images at `which` (image indices into the NHWC tensor `source`) and
 * returns a new tensor of which.length images of augmentedShape(spec): gathering and augmenting in
 * one pass. Random choices come from `rng`, image by image, in the documented order.
 */
export function augmentGather(source: Uint8Array, which: ArrayLike<number>, shape: ImageShape, spec: AugmentSpec, rng: RandomSource): Uint8Array {
  checkAugmentSpec(spec, shape);
  const inSize = shape.height * shape.width * shape.channels;
  const available = Math.floor(source.length / inSize);
  for (let n = 0; n < which.length; n++) {
    const i = which[n]!;
    if (!(Number.isInteger(i) && i >= 0 && i < available)) {
      throw new DataError('BAD_ARGUMENT', `image index ${i}: expected an integer in [0, ${available})`);
    }
  }
  const draws = drawAugmentations(spec, shape, which.length, rng);
  const outShape = augmentedShape(spec, shape);
  const outSize = outShape.height * outShape.width * shape.channels;
  const out = new Uint8Array(which.length * outSize);
  for (let n = 0; n < which.length; n++) {
    const i = which[n]!;
    applyAugmentation(out.subarray(n * outSize, (n + 1) * outSize), source.subarray(i * inSize, (i + 1) * inSize), shape, spec, draws[n]!);
  }
  return out;
}

/** Applies `spec` to the first `count` images of `images` (NHWC uint8); see augmentGather. */
export function augmentBatch(images: Uint8Array, count: number, shape: ImageShape, spec: AugmentSpec, rng: RandomSource): Uint8Array {
  const inSize = shape.height * shape.width * shape.channels;
  if (!Number.isInteger(count) || count < 0 || images.length < count * inSize) {
    throw new DataError('BAD_ARGUMENT', `images: expected at least ${count * inSize} bytes for ${count} images, got ${images.length}`);
  }
  const which = new Int32Array(count);
  for (let i = 0; i < count; i++) which[i] = i;
  return augmentGather(images, which, shape, spec, rng);
}
