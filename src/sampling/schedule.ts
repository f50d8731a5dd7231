// The two clocks of greedy training (docs/method.md, "Greedy supernet training"): the exploration
// schedule eps(t), and the stopping rule on the candidate pool's turnover.
//
// eps(t) = epsStart up to iteration t0, then linear to epsMax at the planned end T, epsMax after.
// t0 defaults to 10% of T; the trainer sets it to the end of the uniform warm-up. Iterations are
// training iterations (a greedy round is k of them).
//
// Stopping rule: at the end of epoch t, pi = |P_t ∩ P| / |P|, where P is the pool now and P_t the
// paths that entered it during epoch t (status 'added' of CandidatePool.push; a path already in
// the pool whose score is replaced did not enter). A path that entered and was evicted again in
// the same epoch is not in P and does not count. Stop when pi <= alpha (default 0.08) AND the pool
// is full: while it is filling, pi = entered / size says how fast it fills, not whether it has
// settled (a pool one-eighth full would otherwise stop a run at pi = 10/125).
import type { CandidatePool, PushOutcome } from './pool.js';

export interface EpsScheduleOptions {
  /** Planned number of training iterations T (the end of the ramp). */
  totalIterations: number;
  /** eps before t0 (default 0). */
  epsStart?: number;
  /** eps at T and after (default 0.8). */
  epsMax?: number;
  /** Start of the ramp, in iterations; overrides t0Fraction. */
  t0?: number;
  /** Start of the ramp as a share of T (default 0.1). */
  t0Fraction?: number;
}

export const DEFAULT_EPS_MAX = 0.8;
export const DEFAULT_T0_FRACTION = 0.1;

function probability(v: number, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${field}: expected a number in [0, 1], got ${v}`);
  return v;
}

export class EpsSchedule {
  readonly totalIterations: number;
  readonly epsStart: number;
  readonly epsMax: number;
  readonly t0: number;

  constructor(options: EpsScheduleOptions) {
    const T = options.totalIterations;
    if (!Number.isSafeInteger(T) || T < 1) throw new RangeError(`eps schedule totalIterations: expected a positive integer, got ${T}`);
    this.totalIterations = T;
    this.epsStart = probability(options.epsStart ?? 0, 'eps schedule epsStart');
    this.epsMax = probability(options.epsMax ?? DEFAULT_EPS_MAX, 'eps schedule epsMax');
    const frac = probability(options.t0Fraction ?? DEFAULT_T0_FRACTION, 'eps schedule t0Fraction');
    const t0 = options.t0 ?? Math.round(frac * T);
    if (!Number.isSafeInteger(t0) || t0 < 0) throw new RangeError(`eps schedule t0: expected a non-negative integer, got ${t0}`);
    this.t0 = t0;
  }

  /** A schedule that stays at `eps` (t0 = 0, start = max). */
  static constant(eps: number): EpsSchedule {
    return new EpsSchedule({ totalIterations: 1, epsStart: eps, epsMax: eps, t0: 0 });
  }

  /** eps at training iteration t (t >= 0). */
  at(t: number): number {
    if (t <= this.t0) return this.epsStart;
    if (t >= this.totalIterations) return this.epsMax;
    return this.epsStart + ((this.epsMax - this.epsStart) * (t - this.t0)) / (this.totalIterations - this.t0);
  }

  toJSON(): Required<Omit<EpsScheduleOptions, 't0Fraction'>> {
    return { totalIterations: this.totalIterations, epsStart: this.epsStart, epsMax: this.epsMax, t0: this.t0 };
  }
}

export interface StoppingOptions {
  /** Stop when the pool turnover pi <= alpha (default 0.08). */
  alpha?: number;
  /** false: pi is still measured and logged but never asks to stop (ablation; default true). */
  enabled?: boolean;
}

export interface EpochTurnover {
  /** 0-based epoch index. */
  epoch: number;
  /** |P_t ∩ P| / |P| (1 when the pool is empty). */
  pi: number;
  /** Paths that entered the pool during the epoch. */
  entered: number;
  /** Of those, paths still in the pool at the end of the epoch. */
  stillIn: number;
  poolSize: number;
  /** The pool was at capacity at the end of the epoch (the rule fires only then). */
  poolFull: boolean;
  /** pi <= alpha, the pool is full and the rule is enabled. */
  stop: boolean;
}

export interface StoppingState {
  epoch: number;
  entered: string[];
  history: EpochTurnover[];
}

export const DEFAULT_ALPHA = 0.08;

export class StoppingRule {
  readonly alpha: number;
  readonly enabled: boolean;
  private epochIndex = 0;
  private entered = new Set<string>();
  private log: EpochTurnover[] = [];

  constructor(options: StoppingOptions = {}) {
    this.alpha = probability(options.alpha ?? DEFAULT_ALPHA, 'stopping alpha');
    this.enabled = options.enabled ?? true;
  }

  get epoch(): number {
    return this.epochIndex;
  }

  /** Turnover of every finished epoch. */
  get history(): readonly EpochTurnover[] {
    return this.log;
  }

  /** Paths entered so far in the current epoch. */
  get enteredThisEpoch(): number {
    return this.entered.size;
  }

  /** Records one pool push. */
  observe(outcome: PushOutcome): void {
    if (outcome.status === 'added') this.entered.add(outcome.key);
  }

  /** Ends the current epoch: computes pi against the pool now and starts the next epoch. */
  endEpoch(pool: CandidatePool): EpochTurnover {
    let stillIn = 0;
    for (const key of this.entered) if (pool.has(key)) stillIn++;
    const pi = pool.size === 0 ? 1 : stillIn / pool.size;
    const poolFull = pool.size >= pool.capacity;
    const record: EpochTurnover = { epoch: this.epochIndex, pi, entered: this.entered.size, stillIn, poolSize: pool.size, poolFull, stop: this.enabled && poolFull && pi <= this.alpha };
    this.log.push(record);
    this.epochIndex++;
    this.entered = new Set();
    return record;
  }

  state(): StoppingState {
    return { epoch: this.epochIndex, entered: [...this.entered], history: this.log.map((r) => ({ ...r })) };
  }

  restore(state: StoppingState): void {
    if (!Number.isSafeInteger(state?.epoch) || !Array.isArray(state.entered) || !Array.isArray(state.history)) {
      throw new TypeError('stopping state: expected {epoch, entered, history}');
    }
    this.epochIndex = state.epoch;
    this.entered = new Set(state.entered);
    this.log = state.history.map((r) => ({ ...r }));
  }
}
