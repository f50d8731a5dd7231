// What evolutionary search and random search share: the injected scorer, the visited set (a
// path is scored at most once per search), the constraint checks, the ranking of scored paths,
// the per-generation log and a JSON-able state for resuming. A search runs in generations; each
// generation proposes new valid unvisited paths, scores them all in ONE scorer call (so the
// scorer evaluates every candidate on the same images) and logs them.
import type { ArchSpace } from '../space/arch.js';
import { checkArchSpace } from '../space/arch.js';
import type { CostTable } from '../space/cost.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import type { Constraints } from '../sampling/constraints.js';
import { ConstraintChecker, ConstraintError } from '../sampling/constraints.js';
import { flopsHistogram } from '../space/histogram.js';
import type { RngState } from '../util/rng.js';
import { Rng } from '../util/rng.js';
import { positiveInt } from '../util/validate.js';

export interface CandidateScore {
  /** Mean cross-entropy on the scoring images (lower is better). */
  loss: number;
  /** Top-1 accuracy on the same images (higher is better). */
  accuracy: number;
}

/** Scores paths with the supernet's weights, every path on the same images; one result per path, in order. */
export type CandidateScorer = (archs: Arch[]) => Promise<CandidateScore[]>;

export interface EvaluatedPath {
  arch: number[];
  key: string;
  loss: number;
  accuracy: number;
  /** From the cost table, when the search has one. */
  flops: number | null;
  params: number | null;
  /** Generation in which it was scored. */
  generation: number;
}

/** 'accuracy': higher accuracy first, ties by lower loss (SPOS). 'loss': lower loss first, ties by higher accuracy. */
export type RankBy = 'accuracy' | 'loss';

export function compareBy(rankBy: RankBy): (a: EvaluatedPath, b: EvaluatedPath) => number {
  const byKey = (a: EvaluatedPath, b: EvaluatedPath): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return rankBy === 'accuracy'
    ? (a, b) => b.accuracy - a.accuracy || a.loss - b.loss || byKey(a, b)
    : (a, b) => a.loss - b.loss || b.accuracy - a.accuracy || byKey(a, b);
}

export interface GenerationRecord {
  generation: number;
  /** How many of this generation's candidates came from each source. */
  sources: { pool: number; mutation: number; crossover: number; random: number };
  /** Proposals tried (generated and checked) to find them. */
  tries: number;
  /** This generation's scored candidates, best first. */
  candidates: EvaluatedPath[];
  /** Best of this generation. */
  generationBest: EvaluatedPath;
  /** Best of the search so far. */
  best: EvaluatedPath;
  /** Paths scored so far in the search. */
  evaluatedTotal: number;
}

export interface SearchResult {
  /** The best scored paths, best first. */
  top: EvaluatedPath[];
  history: GenerationRecord[];
  evaluated: number;
  /** Why the search ended before its last generation, or null. */
  stoppedEarly: string | null;
}

export interface SearchState {
  version: 1;
  kind: string;
  rng: RngState;
  generation: number;
  evaluated: EvaluatedPath[];
  history: GenerationRecord[];
  stoppedEarly: string | null;
}

export interface SearchOptions {
  /** Shape of the space; a CostTable is one (and enables FLOPs/params constraints and reporting). */
  space: ArchSpace;
  costs?: CostTable;
  seed: number;
  constraints?: Constraints;
  /** Candidates per generation (default 50). */
  population?: number;
  /** Generations, the first included (default 20). */
  generations?: number;
  rankBy?: RankBy;
  /** Cap on random proposals per generation (default 100000). */
  maxRandomTries?: number;
  /** Paths reported in the result (default 10). */
  topN?: number;
}

export type Source = 'pool' | 'mutation' | 'crossover' | 'random';


/** Proposals of one generation, built by a search's propose(). */
export class Proposals {
  readonly archs: Arch[] = [];
  readonly sources = { pool: 0, mutation: 0, crossover: 0, random: 0 };
  tries = 0;
  private keys = new Set<string>();

  constructor(private readonly search: PathSearch) {}

  get size(): number {
    return this.archs.length;
  }

  /** Adds `arch` when it is new (not scored, not already proposed) and valid; counts a try. */
  offer(arch: Arch, source: Source): boolean {
    this.tries++;
    const key = archKey(arch);
    if (this.keys.has(key) || this.search.isVisited(key) || !this.search.isValid(arch, key)) return false;
    this.keys.add(key);
    this.archs.push(arch);
    this.sources[source]++;
    return true;
  }
}

export abstract class PathSearch {
  readonly shape: ArchSpace;
  readonly costs: CostTable | undefined;
  readonly checker: ConstraintChecker;
  readonly population: number;
  readonly generations: number;
  readonly rankBy: RankBy;
  readonly maxRandomTries: number;
  readonly topN: number;
  protected rng: Rng;
  protected generation = 0;
  protected evaluated = new Map<string, EvaluatedPath>();
  /** Paths found invalid (a cache only: constraints are deterministic, so it is not saved). */
  private invalid = new Set<string>();
  protected history: GenerationRecord[] = [];
  protected stopReason: string | null = null;
  private busy = false;
  protected abstract readonly kind: string;

  constructor(options: SearchOptions) {
    this.shape = checkArchSpace(options.space);
    this.costs = options.costs;
    if (this.costs !== undefined && (this.costs.numLayers !== this.shape.numLayers || this.costs.numChoices !== this.shape.numChoices)) {
      throw new RangeError('costs: the cost table does not match the space');
    }
    this.checker = new ConstraintChecker(options.constraints, this.costs);
    if (this.costs !== undefined && this.checker.flops !== undefined && flopsHistogram(this.costs).share(this.checker.flops).upper === 0) {
      throw new ConstraintError('INFEASIBLE', `no path of the space meets ${this.checker.describe()}`);
    }
    this.population = positiveInt(options.population ?? 50, 'population');
    this.generations = positiveInt(options.generations ?? 20, 'generations');
    this.rankBy = options.rankBy ?? 'accuracy';
    if (this.rankBy !== 'accuracy' && this.rankBy !== 'loss') throw new RangeError(`rankBy: expected 'accuracy' or 'loss', got ${String(this.rankBy)}`);
    this.maxRandomTries = positiveInt(options.maxRandomTries ?? 100_000, 'maxRandomTries');
    this.topN = positiveInt(options.topN ?? 10, 'topN');
    this.rng = new Rng(options.seed);
  }

  isVisited(key: string): boolean {
    return this.evaluated.has(key);
  }

  isValid(arch: Arch, key: string): boolean {
    if (this.invalid.has(key)) return false;
    if (this.checker.accepts(arch)) return true;
    this.invalid.add(key);
    return false;
  }

  /** A uniform path (one rng.int per layer), unchecked. */
  protected randomArch(): Arch {
    const a = new Array<number>(this.shape.numLayers);
    for (let l = 0; l < a.length; l++) a[l] = this.rng.int(this.shape.numChoices);
    return a;
  }

  /** Adds random valid unvisited paths until `target` proposals or the try cap. */
  protected fillRandom(p: Proposals, target: number): void {
    for (let t = 0; t < this.maxRandomTries && p.size < target; t++) p.offer(this.randomArch(), 'random');
  }

  /** The proposals of the current generation. */
  protected abstract propose(): Proposals;

  get done(): boolean {
    return this.stopReason !== null || this.generation >= this.generations;
  }

  get generationIndex(): number {
    return this.generation;
  }

  /** Every scored path, best first. */
  ranked(): EvaluatedPath[] {
    return [...this.evaluated.values()].sort(compareBy(this.rankBy));
  }

  /** One generation: propose, score in one call, log. Returns its record, or null when done. */
  async step(score: CandidateScorer): Promise<GenerationRecord | null> {
    if (this.busy) throw new Error(`${this.kind} search: a generation is already running`);
    if (this.done) return null;
    this.busy = true;
    try {
      const p = this.propose();
      if (p.size === 0) {
        if (this.evaluated.size === 0) {
          throw new ConstraintError('TRIES_EXHAUSTED', `${this.kind} search: no path meeting ${this.checker.describe()} found in ${p.tries} tries (${this.checker.rejectionSummary()})`);
        }
        this.stopReason = `generation ${this.generation}: no new valid path found in ${p.tries} tries (space exhausted or constraints too tight)`;
        return null;
      }
      const scores = await score(p.archs.map((a) => [...a]));
      if (!Array.isArray(scores) || scores.length !== p.size) {
        throw new TypeError(`${this.kind} search: the scorer returned ${Array.isArray(scores) ? scores.length : typeof scores} results for ${p.size} paths`);
      }
      const candidates = p.archs.map((arch, i): EvaluatedPath => {
        const s = scores[i] as CandidateScore;
        const key = archKey(arch);
        if (typeof s?.loss !== 'number' || !Number.isFinite(s.loss) || typeof s.accuracy !== 'number' || !Number.isFinite(s.accuracy)) {
          throw new RangeError(`${this.kind} search: the scorer returned ${JSON.stringify(s)} for ${key} (expected finite loss and accuracy)`);
        }
        return {
          arch: [...arch],
          key,
          loss: s.loss,
          accuracy: s.accuracy,
          flops: this.costs?.archFlops(arch) ?? null,
          params: this.costs?.archParams(arch) ?? null,
          generation: this.generation,
        };
      });
      for (const c of candidates) this.evaluated.set(c.key, c);
      candidates.sort(compareBy(this.rankBy));
      const record: GenerationRecord = {
        generation: this.generation,
        sources: { ...p.sources },
        tries: p.tries,
        candidates,
        generationBest: candidates[0] as EvaluatedPath,
        best: this.ranked()[0] as EvaluatedPath,
        evaluatedTotal: this.evaluated.size,
      };
      this.history.push(record);
      this.generation++;
      return record;
    } finally {
      this.busy = false;
    }
  }

  /** Runs the remaining generations. */
  async run(score: CandidateScorer, onGeneration?: (record: GenerationRecord) => void): Promise<SearchResult> {
    while (!this.done) {
      const r = await this.step(score);
      if (r !== null) onGeneration?.(r);
    }
    return this.result();
  }

  result(): SearchResult {
    return { top: this.ranked().slice(0, this.topN), history: [...this.history], evaluated: this.evaluated.size, stoppedEarly: this.stopReason };
  }

  state(): SearchState {
    if (this.busy) throw new Error(`${this.kind} search: state() during a generation; save between generations`);
    return {
      version: 1,
      kind: this.kind,
      rng: this.rng.state(),
      generation: this.generation,
      evaluated: [...this.evaluated.values()].map((e) => ({ ...e, arch: [...e.arch] })),
      history: structuredClone(this.history),
      stoppedEarly: this.stopReason,
    };
  }

  restore(state: SearchState): void {
    if (this.busy) throw new Error(`${this.kind} search: restore() during a generation`);
    if (state?.version !== 1 || state.kind !== this.kind) throw new TypeError(`${this.kind} search state: expected version 1 of kind '${this.kind}', got ${state?.kind}`);
    if (!Number.isSafeInteger(state.generation) || !Array.isArray(state.evaluated) || !Array.isArray(state.history)) {
      throw new TypeError(`${this.kind} search state: expected generation, evaluated and history`);
    }
    this.rng.restore(state.rng);
    this.generation = state.generation;
    this.evaluated = new Map(state.evaluated.map((e) => [e.key, { ...e, arch: [...e.arch] }]));
    this.history = structuredClone(state.history);
    this.stopReason = state.stoppedEarly;
  }
}
