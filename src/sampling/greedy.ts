// GreedyNAS path sampling: multi-path sampling with rejection and the candidate pool
// (docs/method.md, "Greedy supernet training"). The first `warmupIterations` iterations hand out
// plain uniform paths, one per iteration, with no scoring: selection by a supernet that has not
// learnt anything yet keeps whatever happened to be trained first (docs/method.md, "Warm-up").
// After that, one round:
//   1. eps = schedule(iteration) (0 with the pool switched off, the "greedy without pool" ablation);
//   2. draw m paths, each from the pool with probability eps (uniform over its entries), otherwise
//      uniform from the space under the constraints (UniformSampler); all uniform while the pool
//      is empty. Paths within a round are distinct (decision: a duplicate is redrawn from the
//      same source, so the m scores are m different paths);
//   3. score all m with ONE call of the injected scorer, so that the engine scores them on the
//      same held-out batch (losses, lower is better);
//   4. keep the k best (ties: earlier draw first) and reject the others;
//   5. push the k kept paths into the pool and record which entered, for the stopping rule; every
//      drawn path that is already in the pool gets its new score, kept or not (a stale score would
//      keep a path that has become weak ranked as it once was);
// and return the k kept paths, which the trainer trains for one iteration each (the paths trained
// are the greedily chosen ones, never fresh uniform ones: docs/method.md, "Defects of the closest public code").
// The sampler's whole state (its RNG, the uniform sampler's, the pool, the stopping rule, the
// counters and the queue of kept paths not yet handed out) is JSON-able for checkpoints.
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import type { RngState } from '../util/rng.js';
import { Rng } from '../util/rng.js';
import type { PoolJSON } from './pool.js';
import { CandidatePool } from './pool.js';
import type { EpochTurnover, EpsScheduleOptions, StoppingOptions, StoppingState } from './schedule.js';
import { EpsSchedule, StoppingRule } from './schedule.js';
import type { UniformSampler, UniformState } from './uniform.js';
import { positiveInt } from '../util/validate.js';

/** Scores paths by loss on one shared held-out batch; one loss per path, in order. */
export type LossScorer = (archs: Arch[]) => Promise<number[]>;

export interface GreedyOptions {
  seed: number;
  /** Draws from the whole space under the constraints; the greedy sampler owns its state. */
  uniform: UniformSampler;
  /** Candidate pool (default: a new one of capacity 1000). The sampler's state includes it. */
  pool?: CandidatePool;
  /** Paths drawn per round (default 10). */
  m?: number;
  /** Paths kept per round (default 5). */
  k?: number;
  /** Exploration schedule; required unless usePool is false. */
  eps?: EpsSchedule | EpsScheduleOptions;
  /** false: never draw from the pool (eps = 0; the pool is still filled and measured). Default true. */
  usePool?: boolean;
  /** Stopping rule on pool turnover; { enabled: false } for the "no stopping rule" ablation. */
  stopping?: StoppingOptions;
  /** Paths within a round are distinct (default true). */
  distinct?: boolean;
  /** Redraws allowed per path to find a distinct, valid one (default 100). */
  maxRedraws?: number;
  /** Iterations of plain uniform sampling (no scoring, no pool) before the first round (default 0). */
  warmupIterations?: number;
}

/** One JSONL line of the training log. */
export interface RoundRecord {
  round: number;
  /** Training iteration at the start of the round (a round is k iterations). */
  iteration: number;
  eps: number;
  /** Keys of the m drawn paths, in draw order. */
  paths: string[];
  fromPool: boolean[];
  /** Loss of each drawn path. */
  scores: number[];
  /** Indices into `paths` of the kept paths, best first. */
  kept: number[];
  /** Kept paths that newly entered the pool. */
  entered: number;
  /** Drawn paths already in the pool whose score was replaced (kept or not). */
  rescored: number;
  poolSizeBefore: number;
  poolSize: number;
}

export interface GreedyRound {
  /** The k kept paths, best first: train each for one iteration. */
  kept: Arch[];
  record: RoundRecord;
}

export interface GreedyState {
  version: 1;
  rng: RngState;
  uniform: UniformState;
  pool: PoolJSON;
  stopping: StoppingState;
  rounds: number;
  iteration: number;
  /** Kept paths not yet handed out by next(). */
  queue: number[][];
}


export class GreedySampler {
  readonly m: number;
  readonly k: number;
  readonly usePool: boolean;
  readonly distinct: boolean;
  readonly maxRedraws: number;
  readonly warmupIterations: number;
  readonly schedule: EpsSchedule | null;
  readonly uniform: UniformSampler;
  readonly stopping: StoppingRule;
  private readonly poolRef: CandidatePool;
  private rng: Rng;
  private roundsDone = 0;
  private iterationCount = 0;
  private queue: Arch[] = [];
  private busy = false;

  constructor(options: GreedyOptions) {
    this.m = positiveInt(options.m ?? 10, 'm');
    this.k = positiveInt(options.k ?? 5, 'k');
    if (this.k > this.m) throw new RangeError(`k (${this.k}) must not exceed m (${this.m})`);
    this.usePool = options.usePool ?? true;
    this.distinct = options.distinct ?? true;
    this.maxRedraws = positiveInt(options.maxRedraws ?? 100, 'maxRedraws');
    const warmup = options.warmupIterations ?? 0;
    if (!Number.isSafeInteger(warmup) || warmup < 0) throw new RangeError(`warmupIterations: expected a non-negative integer, got ${warmup}`);
    this.warmupIterations = warmup;
    if (options.eps === undefined && this.usePool) throw new TypeError('eps: an eps schedule is required (or usePool: false)');
    this.schedule = !this.usePool || options.eps === undefined ? null : options.eps instanceof EpsSchedule ? options.eps : new EpsSchedule(options.eps);
    this.uniform = options.uniform;
    this.poolRef = options.pool ?? new CandidatePool();
    this.stopping = new StoppingRule(options.stopping);
    this.rng = new Rng(options.seed);
  }

  get pool(): CandidatePool {
    return this.poolRef;
  }

  /** Training iterations planned so far (k per round). */
  get iteration(): number {
    return this.iterationCount;
  }

  get rounds(): number {
    return this.roundsDone;
  }

  /** eps at the current iteration (0 when the pool is not used). */
  currentEps(): number {
    return this.schedule === null ? 0 : this.schedule.at(this.iterationCount);
  }

  /** Still in the uniform warm-up (no rounds yet)? */
  get warmingUp(): boolean {
    return this.iterationCount < this.warmupIterations;
  }

  /** Draws one path from the pool or uniformly; null when no distinct valid one was found. */
  private drawFrom(fromPool: boolean, seen: Set<string>): Arch | null {
    for (let attempt = 0; attempt < this.maxRedraws; attempt++) {
      let arch: Arch;
      if (fromPool) {
        arch = [...this.poolRef.sample(this.rng).arch];
        if (!this.uniform.accepts(arch)) continue; // the budget may have changed since it entered
      } else {
        arch = this.uniform.sample();
      }
      if (this.distinct && seen.has(archKey(arch))) continue;
      return arch;
    }
    return null;
  }

  /** Draws the m paths of a round, with their sources. */
  private draw(eps: number): { paths: Arch[]; fromPool: boolean[] } {
    const paths: Arch[] = [];
    const fromPool: boolean[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < this.m; i++) {
      let pool = eps > 0 && this.poolRef.size > 0 ? this.rng.float() < eps : false;
      let arch = this.drawFrom(pool, seen);
      if (arch === null && pool) {
        pool = false; // pool too small for distinct draws: fall back to the space
        arch = this.drawFrom(false, seen);
      }
      // The valid set is smaller than m: allow a duplicate rather than fail.
      if (arch === null) arch = this.uniform.sample();
      seen.add(archKey(arch));
      paths.push(arch);
      fromPool.push(pool);
    }
    return { paths, fromPool };
  }

  /** One round: draw m, score them in one call, keep the k best, push them into the pool. */
  async round(score: LossScorer): Promise<GreedyRound> {
    if (this.busy) throw new Error('greedy sampler: a round is already running');
    if (this.queue.length > 0) throw new Error(`greedy sampler: ${this.queue.length} kept paths of the last round are still queued (use next())`);
    this.busy = true;
    try {
      const eps = this.currentEps();
      const { paths, fromPool } = this.draw(eps);
      const scores = await score(paths.map((a) => [...a]));
      if (!Array.isArray(scores) || scores.length !== paths.length) {
        throw new TypeError(`greedy sampler: the scorer returned ${Array.isArray(scores) ? scores.length : typeof scores} scores for ${paths.length} paths`);
      }
      scores.forEach((s, i) => {
        if (typeof s !== 'number' || !Number.isFinite(s)) throw new RangeError(`greedy sampler: the scorer returned ${s} for path ${archKey(paths[i] as Arch)} (losses must be finite)`);
      });
      const order = paths.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
      const kept = order.slice(0, this.k);
      const poolSizeBefore = this.poolRef.size;
      let entered = 0;
      let rescored = 0;
      const keptSet = new Set(kept);
      for (const i of kept) {
        const outcome = this.poolRef.push(paths[i] as Arch, scores[i] as number);
        this.stopping.observe(outcome);
        if (outcome.status === 'added') entered++;
        else if (outcome.status === 'updated') rescored++;
      }
      paths.forEach((a, i) => {
        if (keptSet.has(i) || !this.poolRef.has(a)) return;
        this.poolRef.push(a, scores[i] as number); // 'updated': a rejected pool path gets its new score too
        rescored++;
      });
      const record: RoundRecord = {
        round: this.roundsDone,
        iteration: this.iterationCount,
        eps,
        paths: paths.map(archKey),
        fromPool,
        scores: [...scores],
        kept,
        entered,
        rescored,
        poolSizeBefore,
        poolSize: this.poolRef.size,
      };
      this.roundsDone++;
      this.iterationCount += this.k;
      return { kept: kept.map((i) => [...(paths[i] as Arch)]), record };
    } finally {
      this.busy = false;
    }
  }

  /**
   * The next path to train: hands out the kept paths of the last round one by one and runs a
   * new round when none is left. `onRound` receives each round's record (for the log).
   */
  async next(score: LossScorer, onRound?: (record: RoundRecord) => void): Promise<Arch> {
    if (this.queue.length === 0 && this.warmingUp) {
      this.iterationCount++;
      return this.uniform.sample();
    }
    if (this.queue.length === 0) {
      const r = await this.round(score);
      onRound?.(r.record);
      this.queue = r.kept;
    }
    return this.queue.shift() as Arch;
  }

  /** Kept paths of the last round not yet handed out by next(). */
  get queued(): readonly Arch[] {
    return this.queue;
  }

  /** Ends a training epoch: pool turnover pi and whether the stopping rule fires. */
  endEpoch(): EpochTurnover {
    return this.stopping.endEpoch(this.poolRef);
  }

  state(): GreedyState {
    if (this.busy) throw new Error('greedy sampler: state() during a round; save between rounds');
    return {
      version: 1,
      rng: this.rng.state(),
      uniform: this.uniform.state(),
      pool: this.poolRef.toJSON(),
      stopping: this.stopping.state(),
      rounds: this.roundsDone,
      iteration: this.iterationCount,
      queue: this.queue.map((a) => [...a]),
    };
  }

  restore(state: GreedyState): void {
    if (this.busy) throw new Error('greedy sampler: restore() during a round');
    if (state?.version !== 1) throw new TypeError('greedy state: expected version 1');
    if (!Number.isSafeInteger(state.rounds) || !Number.isSafeInteger(state.iteration) || !Array.isArray(state.queue)) {
      throw new TypeError('greedy state: expected rounds, iteration and queue');
    }
    CandidatePool.fromJSON(state.pool, this.uniform); // validate before changing anything
    this.rng.restore(state.rng);
    this.uniform.restore(state.uniform);
    this.stopping.restore(state.stopping);
    this.poolRef.load(state.pool, this.uniform);
    this.roundsDone = state.rounds;
    this.iterationCount = state.iteration;
    this.queue = state.queue.map((a) => [...a]);
  }
}

/** P(X >= k) for X ~ Binomial(m, q): the chance that m uniform draws hold at least k good paths. */
export function binomialTail(m: number, k: number, q: number): number {
  if (!Number.isInteger(m) || !Number.isInteger(k) || m < 0 || k < 0) throw new RangeError('binomialTail: m and k must be non-negative integers');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`binomialTail: q must be in [0, 1], got ${q}`);
  let total = 0;
  let c = 1; // C(m, j), built incrementally
  for (let j = 0; j <= m; j++) {
    if (j > 0) c = (c * (m - j + 1)) / j;
    if (j >= k) total += c * q ** j * (1 - q) ** (m - j);
  }
  return Math.min(1, total);
}

/** Share of good paths among draws when a share eps comes from a pool of good paths. */
export function effectiveGoodShare(eps: number, q: number): number {
  return eps + (1 - eps) * q;
}
