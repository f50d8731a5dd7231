// The project's one random-number generator. Every seeded draw in greedynas comes from here: the
// data order, augmentation and validation split (src/data/), the samplers, the candidate pool and
// the searchers, the seeded subsets of the pipeline, the latency tables and the bench workload.
//
// - Generator: pure-rand's xoroshiro128+ (128 bits of state as four 32-bit words); integers come
//   from pure-rand's unbiased uniformInt, floats from its uniformFloat64 (53 random bits).
// - Streams: a generator is named by a list of integers, `new Rng(seed)` or
//   `new Rng(seed, STREAM_TAG, epoch, batch)`; each list gives its own stream, so a batch's draws
//   are a pure function of (seed, epoch, batch) and never depend on what was drawn before.
// - One seed mixer (seedWords) turns the list into the whole 128-bit state.
// - State: state() is JSON ({algorithm, words}) and restore()/fromState() continue it exactly.
//
// Every component that draws (each sampler, each searcher, each batch) owns its own Rng, so the
// draws of one never disturb another and a resumed run repeats the same draws.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/**
 * Version of the seeded streams. Recorded in what a resume continues (a run's config.json, a
 * loader's state): a record without it, or with another one, was drawn by other streams and
 * cannot be continued exactly. Version 2: one generator and one mixer for every draw. Before it
 * (no version recorded) the data layer drew its order, augmentation and split from its own
 * xoshiro128** generator, and the samplers' seed mixer filled two of the four state words from the
 * seed's high half only, so every seed below 2^32 gave the same first draw.
 */
export const RNG_STREAMS = 2;

/**
 * Why a record cannot be continued with this version's streams (null: it can). `recorded` is the
 * record's RNG_STREAMS value (undefined when the record has none).
 */
export function rngStreamsMismatch(recorded: unknown): string | null {
  if (recorded === RNG_STREAMS) return null;
  const was = recorded === undefined ? 'no random-stream version (written before version 2, when the data order, augmentation and split came from another generator)' : `random-stream version ${JSON.stringify(recorded)}`;
  return `it records ${was}, this greedynas draws with version ${RNG_STREAMS}, so its seeded draws would not continue as they began`;
}

/** The few draws a consumer needs (augmentations take this, so a test can pass a fixed source). */
export interface RandomSource {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [0, n), n >= 1. */
  int(n: number): number;
}

/** JSON-able state of an Rng. */
export interface RngState {
  algorithm: 'xoroshiro128plus';
  /** The four signed 32-bit words of the generator. */
  words: number[];
}

/** 32-bit mixing step (Murmur3's finaliser, a bijection): nearby inputs give unrelated outputs. */
function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Starting values and per-word constants of the mixer's four lanes (SHA-256's initial words). */
const LANE_START = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a];
const LANE_STEP = [0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/**
 * The four state words of the stream named by `keys` (safe integers, at least one). Each word is
 * its own hash chain over every key's low half, high half and sign: one mix32 per part, so each
 * word depends on every bit of every key and on their order, and two keys below 2^32 never give
 * one word the same value (mix32 is a bijection). Four chains with different constants give the
 * 128 bits of state; a one-word digest spread over four words would leave 96 of them determined.
 */
function seedWords(keys: readonly number[]): number[] {
  if (keys.length === 0) throw new TypeError('rng keys: expected at least one integer (a seed)');
  const words = [...LANE_START];
  keys.forEach((k, i) => {
    if (typeof k !== 'number' || !Number.isSafeInteger(k)) throw new TypeError(`${i === 0 ? 'seed' : `rng key ${i}`}: expected a safe integer, got ${String(k)}`);
    const parts = [k >>> 0, Math.floor(Math.abs(k) / 0x100000000) >>> 0, k < 0 ? 1 : 0];
    for (let w = 0; w < 4; w++) {
      for (const part of parts) words[w] = mix32((words[w]! ^ part) + LANE_STEP[w]!);
    }
  });
  return words;
}

function generatorOf(keys: readonly number[]): JumpableRandomGenerator {
  const words = seedWords(keys);
  // An all-zero state would repeat 0 for ever; pure-rand's own seeding never gives one.
  if (words.every((w) => w === 0)) return xoroshiro128plus(keys[0]!);
  return xoroshiro128plusFromState(words);
}

export class Rng implements RandomSource {
  private gen: JumpableRandomGenerator;

  /** The stream named by `keys`: a seed, then optionally stream tags, epoch, batch, ... */
  constructor(...keys: number[]) {
    this.gen = generatorOf(keys);
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

  /** Shuffles `items` (an array or a typed array) in place (Fisher-Yates) and returns it. */
  shuffle<A extends { length: number; [i: number]: unknown }>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
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
