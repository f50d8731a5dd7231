// Seeded random numbers with a state that can be saved in a checkpoint and restored exactly.
// The generator is pure-rand's xoroshiro128+ (128 bits of state as four 32-bit words, exported
// by getState() and rebuilt by xoroshiro128plusFromState()); integers come from pure-rand's
// unbiased uniformInt and floats from its uniformFloat64 (53 random bits). Every component
// that draws random numbers (each sampler, each searcher) owns one Rng, so that the state of
// one is never disturbed by the draws of another and a resumed run repeats the same draws.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** JSON-able state of an Rng. */
export interface RngState {
  algorithm: 'xoroshiro128plus';
  /** The four signed 32-bit words of the generator. */
  words: number[];
}

/** 32-bit mixing step (Murmur3's finaliser); spreads nearby seeds over the whole state. */
function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function checkSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TypeError(`seed: expected a safe integer, got ${String(seed)}`);
  }
}

function generatorFromSeed(seed: number): JumpableRandomGenerator {
  checkSeed(seed);
  // Both halves of the (up to 53-bit) seed reach the state. Seeds 0, 1, 2, ... give unrelated
  // streams because every word goes through mix32.
  const lo = seed >>> 0;
  const hi = Math.floor(Math.abs(seed) / 0x100000000) >>> 0;
  const sign = seed < 0 ? 0x5bd1e995 : 0;
  const words = [mix32(lo ^ 0x9e3779b9), mix32(hi ^ sign ^ 0x7f4a7c15), mix32(lo + 0x6a09e667), mix32(hi ^ 0xbb67ae85)];
  if (words.every((w) => w === 0)) return xoroshiro128plus(seed);
  return xoroshiro128plusFromState(words);
}

export class Rng {
  private gen: JumpableRandomGenerator;

  constructor(seed: number) {
    this.gen = generatorFromSeed(seed);
  }

  /** A generator that continues from a saved state. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.restore(state);
    return r;
  }

  /** Current state (JSON-able); restore() with it repeats every later draw. */
  state(): RngState {
    return { algorithm: 'xoroshiro128plus', words: [...this.gen.getState()] };
  }

  restore(state: RngState): void {
    const words = (state as Partial<RngState> | undefined)?.words;
    if (
      state?.algorithm !== 'xoroshiro128plus' ||
      !Array.isArray(words) ||
      words.length !== 4 ||
      !words.every((w) => Number.isInteger(w) && w >= -0x80000000 && w <= 0xffffffff) ||
      words.every((w) => w === 0)
    ) {
      throw new TypeError('rng state: expected {algorithm: "xoroshiro128plus", words: four 32-bit integers, not all 0}');
    }
    this.gen = xoroshiro128plusFromState(words.map((w) => w | 0));
  }

  /**
   * An independent generator for a sub-component: it takes over this generator's current stream
   * and this generator jumps 2^64 draws ahead (xoroshiro128+'s jump), so the parent and every
   * child draw from disjoint segments of the sequence.
   */
  split(): Rng {
    const child = new Rng(0);
    child.gen = this.gen.clone();
    this.gen.jump();
    return child;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`rng.int: expected a positive integer bound, got ${n}`);
    return uniformInt(this.gen, 0, n - 1);
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number {
    return uniformFloat64(this.gen);
  }

  /** true with probability p. */
  bernoulli(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A uniformly chosen element. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('rng.choice: empty array');
    return items[this.int(items.length)] as T;
  }

  /**
   * Normal deviate by the Box-Muller transform. Each call uses two fresh uniforms and discards
   * the second deviate, so the state stays a pure function of the generator (no cached spare).
   */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.float(); // (0, 1]: log is finite
    const u2 = this.float();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
