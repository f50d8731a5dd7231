// Sets of paths that `truth` trains and `rank` scores: a file of paths (--archs), a seeded uniform
// sample under the run's constraints (--sample N: distinct paths), or every path of a small space
// in lexicographic order (--all).
import { readArchList } from '../analysis/truth-file.js';
import type { ArchSpace } from '../space/arch.js';
import { archSpaceOf, spaceSize } from '../space/arch.js';
import type { CostTable } from '../space/cost.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { UniformSampler } from '../sampling/uniform.js';
import type { Constraints } from '../sampling/constraints.js';
import { ConstraintChecker } from '../sampling/constraints.js';
import { ConfigError, type RunConfig } from './config.js';
import { constraintsOf, type BudgetSettings } from './engine-setup.js';
import type { Prepared } from './prepare.js';

/** Largest space `--all` enumerates. */
export const MAX_ENUMERATED_PATHS = 100_000;

/** `n` distinct uniform paths under the constraints, seeded; fewer only when the valid set is smaller. */
export function samplePaths(costs: CostTable, constraints: Constraints, n: number, seed: number): Arch[] {
  const sampler = new UniformSampler(costs, { seed, costs, constraints });
  const seen = new Set<string>();
  const out: Arch[] = [];
  const size = spaceSize(costs);
  const limit = size < BigInt(n) ? Number(size) : n;
  for (let tries = 0; out.length < limit && tries < 50 * n + 1000; tries++) {
    const a = sampler.sample();
    const k = archKey(a);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(a);
  }
  return out;
}

/** Every path of the space that meets the constraints (lexicographic order); refuses spaces over MAX_ENUMERATED_PATHS. */
export function allPaths(shape: ArchSpace, costs: CostTable, constraints: Constraints): Arch[] {
  const size = spaceSize(shape);
  if (size > BigInt(MAX_ENUMERATED_PATHS)) {
    throw new RangeError(`--all: the space has ${size} paths, more than ${MAX_ENUMERATED_PATHS}; use --sample N`);
  }
  const checker = new ConstraintChecker(constraints, costs);
  const out: Arch[] = [];
  const a = new Array<number>(shape.numLayers).fill(0);
  for (let i = 0; i < Number(size); i++) {
    if (checker.accepts(a)) out.push([...a]);
    for (let l = shape.numLayers - 1; l >= 0; l--) {
      a[l]!++;
      if (a[l]! < shape.numChoices) break;
      a[l] = 0;
    }
  }
  return out;
}

/** How a command names its paths: at most one of a file, a sample size and all of them. */
export interface PathChoice {
  archs?: string | undefined;
  sample?: number | undefined;
  all: boolean;
}

/** Refuses more than one way of naming the paths (checked before anything is written). */
export function checkPathChoice(choice: PathChoice): void {
  const given = [choice.archs !== undefined, choice.sample !== undefined, choice.all].filter(Boolean).length;
  if (given > 1) throw new ConfigError('give one of --archs FILE, --sample N and --all');
}

/** The paths of `choice` under the run's budget; `fallback` (rank: the truth file's own) when none is named. */
export function choosePaths(p: Prepared<BudgetSettings & Pick<RunConfig, 'seed'>>, choice: PathChoice, fallback?: Arch[]): Arch[] {
  checkPathChoice(choice);
  const shape = archSpaceOf(p.space);
  if (choice.archs !== undefined) return readArchList(choice.archs, shape);
  if (choice.all) return allPaths(shape, p.costs, constraintsOf(p.config));
  if (choice.sample !== undefined) return samplePaths(p.costs, constraintsOf(p.config), choice.sample, p.config.seed + 1111);
  if (fallback) return fallback;
  throw new ConfigError('which paths? give --archs FILE, --sample N or --all');
}
