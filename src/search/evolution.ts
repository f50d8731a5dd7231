// Evolutionary search over paths with the SPOS settings (docs/method.md, "Search"): generation 0
// is the initial population (GreedyNAS: the best paths of the candidate pool, topped up with
// random paths; the ablation: random paths only); every later generation breeds from the top
// `parents` (10) of all paths scored so far: `mutationChildren` (25) by mutation, each layer
// replaced by a uniform choice with probability `mutationProb` (0.1), and `crossoverChildren`
// (25) by uniform crossover of two random parents, then random paths fill the population up to
// `population` (50) if breeding fell short. A child is accepted only if it is valid (FLOPs,
// parameters, constraint hook) and has never been scored (the visited set), so no path is
// scored twice. Breeding tries are capped at 10 per wanted child (as SPOS) and random tries at
// maxRandomTries: an over-tight constraint ends with a ConstraintError, never a hang. Decision:
// `generations` counts scored generations, generation 0 included (20 generations score at most
// 1000 paths); SPOS also breeds a last generation that it never scores, which we skip.
import { assertArch } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import { positiveInt } from '../util/validate.js';
import type { SearchOptions } from './common.js';
import { PathSearch, Proposals } from './common.js';

export interface EvolutionOptions extends SearchOptions {
  /** Parents: the best this many of all scored paths (default 10). */
  parents?: number;
  /** Children by mutation per generation (default population / 2, i.e. 25). */
  mutationChildren?: number;
  /** Children by crossover per generation (default the rest of the population, i.e. 25). */
  crossoverChildren?: number;
  /** Per-layer mutation probability (default 0.1). */
  mutationProb?: number;
  /** Breeding tries per wanted child (default 10, as SPOS). */
  triesPerChild?: number;
  /** Seeds of the first population, best first (GreedyNAS: pool.best().map((e) => e.arch)). */
  init?: ReadonlyArray<readonly number[]>;
}

export class EvolutionSearch extends PathSearch {
  protected readonly kind = 'evolution';
  readonly parents: number;
  readonly mutationChildren: number;
  readonly crossoverChildren: number;
  readonly mutationProb: number;
  readonly triesPerChild: number;
  private readonly init: Arch[];

  constructor(options: EvolutionOptions) {
    super(options);
    this.parents = positiveInt(options.parents ?? 10, 'parents');
    // Default: half of the population each (25 + 25 for 50); a generation never exceeds the population.
    this.mutationChildren = positiveInt(options.mutationChildren ?? Math.floor(this.population / 2), 'mutationChildren', true);
    this.crossoverChildren = positiveInt(options.crossoverChildren ?? this.population - this.mutationChildren, 'crossoverChildren', true);
    if (this.mutationChildren + this.crossoverChildren > this.population) {
      throw new RangeError(`mutationChildren + crossoverChildren (${this.mutationChildren} + ${this.crossoverChildren}) must not exceed population (${this.population})`);
    }
    this.mutationProb = options.mutationProb ?? 0.1;
    if (!(this.mutationProb >= 0 && this.mutationProb <= 1)) throw new RangeError(`mutationProb: expected a number in [0, 1], got ${this.mutationProb}`);
    this.triesPerChild = positiveInt(options.triesPerChild ?? 10, 'triesPerChild');
    this.init = (options.init ?? []).map((a, i) => {
      assertArch(a, this.shape, `init[${i}]`);
      return [...a];
    });
  }

  protected propose(): Proposals {
    const p = new Proposals(this);
    if (this.generation === 0) {
      for (const a of this.init) {
        if (p.size >= this.population) break;
        p.offer([...a], 'pool');
      }
    } else {
      const parents = this.ranked().slice(0, this.parents).map((e) => e.arch);
      const C = this.shape.numChoices;
      for (let t = 0; t < this.mutationChildren * this.triesPerChild && p.sources.mutation < this.mutationChildren; t++) {
        const parent = this.rng.choice(parents);
        const child = parent.map((c) => (this.rng.float() < this.mutationProb ? this.rng.int(C) : c));
        p.offer(child, 'mutation');
      }
      for (let t = 0; t < this.crossoverChildren * this.triesPerChild && p.sources.crossover < this.crossoverChildren; t++) {
        const a = this.rng.choice(parents);
        const b = this.rng.choice(parents);
        const child = a.map((c, l) => (this.rng.int(2) === 0 ? c : (b[l] as number)));
        p.offer(child, 'crossover');
      }
    }
    this.fillRandom(p, this.population);
    return p;
  }
}
