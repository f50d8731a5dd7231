// Uniform path sampling (SPOS), optionally under constraints: a path is drawn uniformly (one
// independent choice per layer) and redrawn until it meets the FLOPs / parameter budget and the
// constraint hook (rejection sampling on the cost table), so accepted paths are uniform over the
// valid set. Tries are capped; a budget that no path meets fails at construction (INFEASIBLE),
// as does one that rejection sampling would rarely meet within the cap (TOO_TIGHT: the share
// of valid paths comes from the FLOPs histogram's guaranteed bracket, see space/histogram.ts).
//
// Optional FLOPs bins, as the SPOS code does: each draw first picks one of `count` equal-width
// FLOPs bins uniformly, then rejection-samples a path inside it, which spreads the trained paths
// evenly over the FLOPs range instead of concentrating them around the mean.
import type { ArchSpace } from '../space/arch.js';
import { checkArchSpace } from '../space/arch.js';
import type { CostTable } from '../space/cost.js';
import { formatCount } from '../space/cost.js';
import { flopsHistogram } from '../space/histogram.js';
import type { Arch } from '../space/types.js';
import type { RngState } from '../util/rng.js';
import { Rng } from '../util/rng.js';
import type { Constraints, Range } from './constraints.js';
import { ConstraintChecker, ConstraintError, formatRange } from './constraints.js';

export interface FlopsBins {
  /** Number of equal-width bins. */
  count: number;
  /** FLOPs range split into bins; default the 1%..99% quantiles of uniform paths, clipped to the budget. */
  min?: number;
  max?: number;
}

export interface UniformOptions {
  seed: number;
  /** Cost table of the space: needed for a FLOPs or parameter budget and for bins. */
  costs?: CostTable;
  constraints?: Constraints;
  /** Cap on tries per draw (default 100000). */
  maxTries?: number;
  bins?: FlopsBins;
}

export interface UniformState {
  rng: RngState;
  draws: number;
  tries: number;
}

export const DEFAULT_MAX_TRIES = 100_000;
/** A constraint is refused as too tight when tries * share < this (failure chance <= e^-20). */
const MIN_EXPECTED_HITS = 20;

export class UniformSampler implements ArchSpace {
  readonly numLayers: number;
  readonly numChoices: number;
  readonly maxTries: number;
  readonly checker: ConstraintChecker;
  /** FLOPs bin edges [from, to] (inclusive), when bins are used. */
  readonly bins: ReadonlyArray<Required<Range>> | null;
  private rng: Rng;
  private draws = 0;
  private tries = 0;

  constructor(shape: ArchSpace, options: UniformOptions) {
    const s = checkArchSpace(shape);
    this.numLayers = s.numLayers;
    this.numChoices = s.numChoices;
    this.rng = new Rng(options.seed);
    this.maxTries = options.maxTries ?? DEFAULT_MAX_TRIES;
    if (!Number.isSafeInteger(this.maxTries) || this.maxTries < 1) throw new RangeError(`maxTries: expected a positive integer, got ${this.maxTries}`);
    const costs = options.costs;
    if (costs !== undefined && (costs.numLayers !== s.numLayers || costs.numChoices !== s.numChoices)) {
      throw new RangeError(`costs: table of ${costs.numLayers}x${costs.numChoices} does not match the space ${s.numLayers}x${s.numChoices}`);
    }
    this.checker = new ConstraintChecker(options.constraints, costs);
    const budget = this.checker.flops ?? {};
    if (costs !== undefined && this.checker.flops !== undefined) this.checkShare(budget, `the FLOPs budget ${formatRange(budget)}`);
    this.bins = null;
    if (options.bins !== undefined) {
      if (costs === undefined) throw new TypeError('bins: FLOPs bins need the space cost table (costs)');
      const { count } = options.bins;
      if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`bins.count: expected a positive integer, got ${count}`);
      const hist = flopsHistogram(costs);
      const lo = Math.max(options.bins.min ?? hist.quantile(0.01), budget.min ?? -Infinity);
      const hi = Math.min(options.bins.max ?? hist.quantile(0.99), budget.max ?? Infinity);
      if (!(lo < hi)) throw new ConstraintError('INFEASIBLE', `bins: empty FLOPs range [${formatCount(lo, 2)}, ${formatCount(hi, 2)}] after clipping to the budget`);
      const edges = Array.from({ length: count }, (_, i) => ({ min: lo + ((hi - lo) * i) / count, max: lo + ((hi - lo) * (i + 1)) / count }));
      edges.forEach((b, i) => this.checkShare(b, `FLOPs bin ${i} [${formatCount(b.min, 2)}, ${formatCount(b.max, 2)}]`));
      this.bins = edges;
    }
  }

  /** Refuses a FLOPs range whose share of paths is too small for rejection sampling. */
  private checkShare(range: Range, what: string): void {
    const costs = this.checker.costs as CostTable;
    const share = flopsHistogram(costs).share(range);
    if (share.upper === 0) throw new ConstraintError('INFEASIBLE', `no path meets ${what}: paths of this space have ${formatCount(costs.minFlops, 2)} to ${formatCount(costs.maxFlops, 2)} FLOPs`);
    if (share.upper * this.maxTries < MIN_EXPECTED_HITS) {
      throw new ConstraintError(
        'TOO_TIGHT',
        `${what} holds only ${share.upper.toExponential(2)} of the paths: rejection sampling with ${this.maxTries} tries would often fail; relax it or raise maxTries to at least ${Math.ceil(MIN_EXPECTED_HITS / share.upper)}`,
      );
    }
  }

  /** A uniform path, with no constraint (one rng.int per layer). */
  private raw(): Arch {
    const arch = new Array<number>(this.numLayers);
    for (let l = 0; l < this.numLayers; l++) arch[l] = this.rng.int(this.numChoices);
    return arch;
  }

  /** Whether a path meets the sampler's constraints (budget and hook). */
  accepts(arch: readonly number[]): boolean {
    return this.checker.accepts(arch);
  }

  /** A path uniform over those meeting the constraints (within the chosen FLOPs bin, if any). */
  sample(): Arch {
    let bin: Required<Range> | null = null;
    if (this.bins !== null) bin = this.bins[this.rng.int(this.bins.length)] as Required<Range>;
    const costs = this.checker.costs;
    for (let t = 0; t < this.maxTries; t++) {
      this.tries++;
      const arch = this.raw();
      if (bin !== null) {
        const f = (costs as CostTable).flopsUnchecked(arch);
        if (f < bin.min || f > bin.max) continue;
      }
      if (this.checker.reject(arch) !== null) continue;
      this.draws++;
      return arch;
    }
    const where = bin !== null ? ` in FLOPs bin [${formatCount(bin.min, 2)}, ${formatCount(bin.max, 2)}]` : '';
    throw new ConstraintError('TRIES_EXHAUSTED', `no path meeting ${this.checker.describe()}${where} found in ${this.maxTries} tries (${this.checker.rejectionSummary()})`);
  }

  /** Paths accepted and tries made so far. */
  get stats(): { draws: number; tries: number } {
    return { draws: this.draws, tries: this.tries };
  }

  state(): UniformState {
    return { rng: this.rng.state(), draws: this.draws, tries: this.tries };
  }

  restore(state: UniformState): void {
    this.rng.restore(state.rng);
    this.draws = state.draws;
    this.tries = state.tries;
  }
}
