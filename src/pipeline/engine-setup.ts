// What every stage that builds or scores a network shares: the engine settings of a run (device,
// threads, optimiser) as the engine's options, the run's FLOPs / parameter budgets as sampler and
// searcher constraints, and the scorer that measures paths on a fixed set of held-out images.
import type { Dataset } from '../data/index.js';
import type { EngineOptions } from '../native/api.js';
import { Supernet } from '../native/engine.js';
import type { Constraints } from '../sampling/constraints.js';
import type { Arch, ResolvedSpace } from '../space/types.js';
import { ConfigError, type RunConfig } from './config.js';

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
    await checkScoringMemory(net, ds, bn);
    const r = await net.evaluate(archs, ds.images, ds.labels, { bn });
    return r.map((s) => ({ loss: s.loss, accuracy: s.correct / s.count }));
  };
}

/** What a scoring call holds on the CPU, as a line in its number of images (bytes). */
interface ScoringMemory {
  fixed: number;
  perImage: number;
}
const scoringMemory = new WeakMap<Supernet, Promise<ScoringMemory>>();

/**
 * Measures a network's scoring memory once, on a fresh network of the same space and scoring
 * arithmetic (its buffers start empty, while the network's own have grown to the largest batch it
 * has seen): evaluate() on 2 and then 4 images, every path of one op throughout (so each layer's
 * largest op sizes the buffers), and the native memory after each. The buffers scale with the
 * images scored at once (batch statistics need all of them), so two points give the line; the
 * numbers are the engine's own buffer sizes, not a model of them.
 */
async function measureScoringMemory(net: Supernet, ds: Dataset, bn: 'batch' | 'running'): Promise<ScoringMemory> {
  const probe = await Supernet.create(net.space, { seed: 0, scoreMath: net.scoreMath });
  try {
    const px = ds.height * ds.width * ds.channels;
    const paths = net.space.opNames.map((_, op) => net.space.layers.map(() => op));
    const after = async (n: number): Promise<number> => {
      await probe.evaluate(paths, new Uint8Array(n * px), new Int32Array(n), { bn });
      return probe.memoryBytes;
    };
    const at2 = await after(2);
    const at4 = await after(4);
    const perImage = Math.max(0, (at4 - at2) / 2);
    return { fixed: at4 - 4 * perImage, perImage };
  } finally {
    await probe.dispose();
  }
}

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/**
 * Refuses, before it starts, a CPU scoring call whose buffers would not fit in the memory this
 * process can still get (process.availableMemory(): free memory, within a cgroup's limit): at
 * ImageNet size a path costs ~10 MB per image scored at once, so a scoring set of 1,000 images
 * needs ~10 GB, and a call that overran would have the process killed with no message. On a GPU
 * backend the memory is the device's, and an allocation that fails there is reported as an error.
 */
export async function checkScoringMemory(net: Supernet, ds: Dataset, bn: 'batch' | 'running'): Promise<void> {
  // (a stand-in scorer object, as the search tests pass, has no native memory to check)
  if (!(net instanceof Supernet) || !net.backend.startsWith('cpu')) return;
  let model = scoringMemory.get(net);
  if (!model) {
    model = measureScoringMemory(net, ds, bn);
    scoringMemory.set(net, model);
  }
  const { fixed, perImage } = await model;
  const n = ds.labels.length;
  const more = fixed + perImage * n - net.memoryBytes; // beyond what the network holds already
  const available = process.availableMemory();
  if (more <= 0.9 * available) return;
  const fits = Math.max(0, Math.floor((0.9 * available + net.memoryBytes - fixed) / Math.max(1, perImage)));
  throw new ConfigError(
    `scoring ${n} images at once needs about ${gb(fixed + perImage * n)} for this network on the CPU ` +
      `(${(perImage / 2 ** 20).toFixed(1)} MB per image, measured on this engine), but only ${gb(available)} is available: ` +
      `score fewer images at once (about ${fits} fit now): --val-images for the greedy rounds, --search-images for the search`,
  );
}
