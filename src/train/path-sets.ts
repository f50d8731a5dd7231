// Sets of paths that `truth` trains and `rank` scores: a seeded uniform sample under the run's
// constraints (distinct paths), or every path of a small space in lexicographic order.
import type { ArchSpace } from '../space/arch.js';
import { spaceSize } from '../space/arch.js';
import type { CostTable } from '../space/cost.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { UniformSampler } from '../sampling/uniform.js';
import type { Constraints } from '../sampling/constraints.js';
import { ConstraintChecker } from '../sampling/constraints.js';

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
