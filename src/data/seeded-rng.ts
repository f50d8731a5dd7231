// The data layer's own seeded generator: xoshiro128** (32-bit state words, period 2^128 - 1),
// seeded through a murmur3-style 32-bit mixer so that any list of integers (a seed, an epoch, a
// batch index) names an independent stream. Its state is four numbers, so a loader checkpoint is
// plain JSON. It implements the Rng interface that every augmentation takes.
import { DataError, type Rng } from './types.js';

const GOLDEN = 0x9e3779b9;

/** murmur3's 32-bit finaliser: a bijective avalanche mix of one 32-bit word. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Hashes a list of non-negative integers below 2^53 into one 32-bit word. */
export function hashInts(keys: readonly number[]): number {
  let h = 0x6a09e667;
  for (const k of keys) {
    if (!Number.isInteger(k) || k < 0 || k > Number.MAX_SAFE_INTEGER) {
      throw new DataError('BAD_ARGUMENT', `seed key: expected an integer in [0, 2^53), got ${k}`);
    }
    const lo = k >>> 0;
    const hi = Math.floor(k / 0x100000000) >>> 0;
    h = mix32((h ^ lo) + GOLDEN);
    h = mix32((h ^ hi) + GOLDEN);
  }
  return h;
}

export interface SeededRngState {
  /** The four xoshiro128** state words (unsigned 32-bit). */
  s: [number, number, number, number];
}

export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A generator whose stream is a pure function of the keys (e.g. [seed], [seed, epoch]). */
  constructor(...keys: number[]) {
    let x = hashInts(keys);
    const next = (): number => {
      x = (x + GOLDEN) >>> 0;
      return mix32(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: SeededRngState): SeededRng {
    const s = state?.s;
    if (
      !Array.isArray(s) ||
      s.length !== 4 ||
      !s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff) ||
      s.every((v) => v === 0)
    ) {
      throw new DataError('BAD_ARGUMENT', `rng state: expected {s: four unsigned 32-bit integers, not all 0}, got ${JSON.stringify(state)}`);
    }
    const r = new SeededRng(0);
    [r.s0, r.s1, r.s2, r.s3] = s;
    return r;
  }

  state(): SeededRngState {
    return { s: [this.s0, this.s1, this.s2, this.s3] };
  }

  /** Next 32-bit unsigned output. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  float(): number {
    return this.u32() / 0x100000000;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) {
      throw new DataError('BAD_ARGUMENT', `rng.int(n): expected an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling: accept only draws below the largest multiple of n (no modulo bias).
    const limit = 0x100000000 - (0x100000000 % n);
    let u = this.u32();
    while (u >= limit) u = this.u32();
    return u % n;
  }
}

/** In-place Fisher-Yates shuffle driven by `rng`. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T, rng: Rng): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}
