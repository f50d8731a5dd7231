// The candidate pool P of GreedyNAS (docs/method.md, "Greedy supernet training", step 5): the best paths found so
// far, bounded (default 1000), ordered by score ascending (scores are losses: lower is better),
// keyed by archKey and de-duplicated. Pushing a path already in the pool replaces its score with
// the new one (a re-scored path gets its new score) and moves it to its new rank. When the pool
// is full, a new path enters only if it is strictly better than the worst, which is evicted.
// Ties keep the older entry first. The pool round-trips through toJSON/fromJSON with its order.
import type { ArchSpace } from '../space/arch.js';
import { assertArch } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import type { Rng } from '../util/rng.js';

export interface PoolEntry {
  readonly arch: readonly number[];
  readonly key: string;
  /** Loss (lower is better). */
  readonly score: number;
}

export interface PushOutcome {
  /** 'added': newly entered; 'updated': was in the pool, score replaced; 'rejected': pool full and not better than the worst. */
  status: 'added' | 'updated' | 'rejected';
  key: string;
  /** Key of the entry evicted to make room, if any. */
  evicted: string | null;
}

export interface PoolJSON {
  version: 1;
  capacity: number;
  /** Best first. */
  entries: Array<{ arch: number[]; score: number }>;
}

interface Slot extends PoolEntry {
  /** Insertion sequence: breaks ties, older first. */
  seq: number;
}

export const DEFAULT_POOL_CAPACITY = 1000;

export class CandidatePool {
  private cap: number;
  private slots: Slot[] = [];
  private byKey = new Map<string, Slot>();
  private seq = 0;

  constructor(options: { capacity?: number } = {}) {
    const capacity = options.capacity ?? DEFAULT_POOL_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`pool capacity: expected a positive integer, got ${capacity}`);
    this.cap = capacity;
  }

  get capacity(): number {
    return this.cap;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Index where an entry (score, seq) belongs in the sorted array. */
  private position(score: number, seq: number): number {
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.slots[mid] as Slot;
      if (s.score < score || (s.score === score && s.seq < seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private removeSlot(slot: Slot): void {
    const i = this.position(slot.score, slot.seq);
    if (this.slots[i] !== slot) throw new Error('candidate pool: internal order broken');
    this.slots.splice(i, 1);
    this.byKey.delete(slot.key);
  }

  private insertSlot(slot: Slot): void {
    this.slots.splice(this.position(slot.score, slot.seq), 0, slot);
    this.byKey.set(slot.key, slot);
  }

  /** Adds a path with its score (loss), or replaces the score of a path already in the pool. */
  push(arch: readonly number[], score: number): PushOutcome {
    if (!Array.isArray(arch) || !arch.every((c) => Number.isInteger(c) && c >= 0)) throw new RangeError(`pool.push: expected an arch (array of choice indices), got ${JSON.stringify(arch)}`);
    if (typeof score !== 'number' || !Number.isFinite(score)) throw new RangeError(`pool.push: score of ${archKey(arch)} must be a finite number, got ${score}`);
    const key = archKey(arch);
    const old = this.byKey.get(key);
    if (old !== undefined) {
      this.removeSlot(old);
      this.insertSlot({ arch: old.arch, key, score, seq: this.seq++ });
      return { status: 'updated', key, evicted: null };
    }
    let evicted: string | null = null;
    if (this.slots.length >= this.capacity) {
      const worst = this.slots[this.slots.length - 1] as Slot;
      if (!(score < worst.score)) return { status: 'rejected', key, evicted: null };
      this.removeSlot(worst);
      evicted = worst.key;
    }
    this.insertSlot({ arch: Object.freeze([...arch]), key, score, seq: this.seq++ });
    return { status: 'added', key, evicted };
  }

  has(archOrKey: readonly number[] | string): boolean {
    return this.byKey.has(typeof archOrKey === 'string' ? archOrKey : archKey(archOrKey));
  }

  get(archOrKey: readonly number[] | string): PoolEntry | undefined {
    const s = this.byKey.get(typeof archOrKey === 'string' ? archOrKey : archKey(archOrKey));
    return s === undefined ? undefined : { arch: s.arch, key: s.key, score: s.score };
  }

  /** All entries, best (lowest loss) first. */
  entries(): PoolEntry[] {
    return this.slots.map((s) => ({ arch: s.arch, key: s.key, score: s.score }));
  }

  /** The n best entries (all by default), best first. */
  best(n = this.slots.length): PoolEntry[] {
    return this.entries().slice(0, Math.max(0, n));
  }

  worst(): PoolEntry | undefined {
    const s = this.slots[this.slots.length - 1];
    return s === undefined ? undefined : { arch: s.arch, key: s.key, score: s.score };
  }

  keys(): Set<string> {
    return new Set(this.byKey.keys());
  }

  /** A uniformly chosen entry (one rng.int draw). Throws on an empty pool. */
  sample(rng: Rng): PoolEntry {
    if (this.slots.length === 0) throw new RangeError('pool.sample: the pool is empty');
    const s = this.slots[rng.int(this.slots.length)] as Slot;
    return { arch: s.arch, key: s.key, score: s.score };
  }

  toJSON(): PoolJSON {
    return { version: 1, capacity: this.capacity, entries: this.slots.map((s) => ({ arch: [...s.arch], score: s.score })) };
  }

  /** Rebuilds a pool saved by toJSON; with `shape`, every path is checked against the space. */
  static fromJSON(json: unknown, shape?: ArchSpace): CandidatePool {
    const j = json as Partial<PoolJSON> | null;
    if (j === null || typeof j !== 'object' || j.version !== 1 || !Array.isArray(j.entries)) {
      throw new TypeError('pool: expected {version: 1, capacity, entries: [{arch, score}]}');
    }
    const pool = new CandidatePool({ capacity: j.capacity ?? DEFAULT_POOL_CAPACITY });
    pool.fill(j.entries, shape);
    return pool;
  }

  /** Replaces this pool's capacity and contents with a saved pool's (same object, for resume). */
  load(json: unknown, shape?: ArchSpace): void {
    const other = CandidatePool.fromJSON(json, shape);
    this.cap = other.cap;
    this.slots = other.slots;
    this.byKey = other.byKey;
    this.seq = other.seq;
  }

  private fill(entries: PoolJSON['entries'], shape: ArchSpace | undefined): void {
    if (entries.length > this.cap) throw new RangeError(`pool: ${entries.length} entries exceed the capacity ${this.cap}`);
    let prev = -Infinity;
    entries.forEach((e, i) => {
      if (shape !== undefined) assertArch(e?.arch, shape, `pool.entries[${i}].arch`);
      const arch: unknown = e?.arch;
      if (!Array.isArray(arch)) throw new TypeError(`pool.entries[${i}].arch: expected an array`);
      if (typeof e.score !== 'number' || !Number.isFinite(e.score)) throw new TypeError(`pool.entries[${i}].score: expected a finite number`);
      if (e.score < prev) throw new RangeError(`pool.entries[${i}]: entries must be sorted by score`);
      prev = e.score;
      const outcome = this.push(arch as Arch, e.score);
      if (outcome.status !== 'added') throw new RangeError(`pool.entries[${i}]: duplicate path ${outcome.key}`);
    });
  }
}
