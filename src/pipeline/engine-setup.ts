// What every stage that builds or scores a network shares: the engine settings of a run (device,
// threads, optimiser) as the engine's options, the run's FLOPs / parameter budgets as sampler and
// searcher constraints, and the scorer that measures paths on a fixed set of held-out images.
import type { Dataset } from '../data/index.js';
import type { EngineOptions } from '../native/api.js';
import { Supernet } from '../native/engine.js';
import type { Constraints } from '../sampling/constraints.js';
import type { Arch, ResolvedSpace } from '../space/types.js';
import type { RunConfig } from './config.js';

/** The settings that place a network (CPU or N GPUs) and configure its optimiser. */
export type EngineSettings = Pick<RunConfig, 'threads' | 'gpus' | 'math' | 'scoreMath' | 'momentum' | 'nesterov' | 'weightDecay' | 'labelSmoothing'>;

/** The budgets that constrain sampled and searched paths (a latency budget comes as a check). */
export type BudgetSettings = Pick<RunConfig, 'flopsMax' | 'paramsMax'>;

/** The FLOPs/params/latency constraints of a run as the samplers and searchers take them. */
export function constraintsOf(c: BudgetSettings, latencyCheck?: (arch: readonly number[]) => boolean): Constraints {
  const out: Constraints = {};
  if (c.flopsMax !== null) out.flops = c.flopsMax;
  if (c.paramsMax !== null) out.params = c.paramsMax;
  if (latencyCheck) out.check = latencyCheck;
  return out;
}

/** Engine options that place a network: the CPU (--gpus 0) or N GPUs, data parallel. */
export function engineDevice(c: Pick<RunConfig, 'gpus' | 'math'>): Pick<EngineOptions, 'backend' | 'gpus' | 'math'> {
  return c.gpus > 0 ? { backend: 'cuda', gpus: c.gpus, math: c.math } : { backend: 'cpu' };
}

/** A fresh network of `space` (the supernet, or a materialised path) with the run's engine settings. */
export async function createSupernet(space: ResolvedSpace, c: EngineSettings, seed: number): Promise<Supernet> {
  return Supernet.create(space, {
    seed,
    threads: c.threads,
    ...engineDevice(c),
    momentum: c.momentum,
    nesterov: c.nesterov,
    weightDecay: c.weightDecay,
    labelSmoothing: c.labelSmoothing,
    scoreMath: c.scoreMath,
  });
}

/** Scores paths on held-out images: {loss, accuracy} per path, every path on the same images. */
export function scorer(net: Supernet, ds: Dataset, bn: 'batch' | 'running' = 'batch') {
  return async (archs: Arch[]): Promise<Array<{ loss: number; accuracy: number }>> => {
    const r = await net.evaluate(archs, ds.images, ds.labels, { bn });
    return r.map((s) => ({ loss: s.loss, accuracy: s.correct / s.count }));
  };
}
