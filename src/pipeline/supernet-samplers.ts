// The samplers of supernet training, built from a run's settings: the uniform sampler (SPOS, and
// the warm-up and fallback of the others), the strict-fair one (FairNAS) and the greedy one
// (GreedyNAS) with its candidate pool, eps schedule and stopping rule. Each has its own seed
// offset, so that a run's paths depend only on --seed and the sampler; their state goes into
// every checkpoint and comes back on --resume.
import type { Constraints } from '../sampling/constraints.js';
import { FairSampler, type FairState } from '../sampling/fair.js';
import { GreedySampler, type GreedyState } from '../sampling/greedy.js';
import { CandidatePool } from '../sampling/pool.js';
import { UniformSampler, type UniformState } from '../sampling/uniform.js';
import type { ArchSpace } from '../space/arch.js';
import type { CostTable } from '../space/cost.js';
import { poolCapacityFor, type RunConfig } from './config.js';

/** The settings the samplers read. */
export type SamplerSettings = Pick<RunConfig, 'seed' | 'sampler' | 'flopsBins' | 'm' | 'k' | 'poolSize' | 'epsMax' | 'greedyWarmup' | 'alpha' | 'usePool' | 'stopping'>;

export type SamplerState = GreedyState | UniformState | FairState;

export interface Samplers {
  /** Always there: the uniform sampler of --sampler uniform, and the one greedy draws from. */
  uniform: UniformSampler;
  fair: FairSampler | null;
  greedy: GreedySampler | null;
  pool: CandidatePool | null;
  /** Iterations of uniform warm-up before greedy rounds start (0 for the other samplers). */
  greedyWarmup: number;
}

/** The samplers of a run on `shape` of `totalIterations` iterations, `batchesPerEpoch` per epoch. */
export function createSamplers(c: SamplerSettings, shape: ArchSpace, costs: CostTable, constraints: Constraints, batchesPerEpoch: number, totalIterations: number): Samplers {
  const uniform = new UniformSampler(shape, { seed: c.seed + 101, costs, constraints, ...(c.flopsBins > 0 ? { bins: { count: c.flopsBins } } : {}) });
  const fair = c.sampler === 'fair' ? new FairSampler(shape, { seed: c.seed + 202 }) : null;
  if (c.sampler !== 'greedy') return { uniform, fair, greedy: null, pool: null, greedyWarmup: 0 };
  const pool = new CandidatePool({ capacity: poolCapacityFor(c, batchesPerEpoch) });
  const greedyWarmup = Math.round(c.greedyWarmup * totalIterations);
  const greedy = new GreedySampler({
    seed: c.seed + 303,
    uniform,
    pool,
    m: c.m,
    k: c.k,
    usePool: c.usePool,
    warmupIterations: greedyWarmup,
    eps: { totalIterations, epsMax: c.epsMax, t0: greedyWarmup },
    stopping: { alpha: c.alpha, enabled: c.stopping },
  });
  return { uniform, fair, greedy, pool, greedyWarmup };
}

/** The state of the run's sampler, for a checkpoint. */
export function samplerState(s: Samplers): SamplerState {
  return s.greedy ? s.greedy.state() : s.fair ? s.fair.state() : s.uniform.state();
}

/** Restores the run's sampler from a checkpoint's samplerState(). */
export function restoreSampler(s: Samplers, state: SamplerState): void {
  if (s.greedy) s.greedy.restore(state as GreedyState);
  else if (s.fair) s.fair.restore(state as FairState);
  else s.uniform.restore(state as UniformState);
}
