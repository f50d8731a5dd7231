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

/** The native memory a kind of call holds on the CPU, as a line in its number of images (bytes). */
export interface MemoryLine {
  fixed: number;
  perImage: number;
}
export type CallKind = 'score' | 'train';
const memoryLines = new WeakMap<Supernet, Map<string, Promise<MemoryLine>>>();

/**
 * Measures, once per network and kind of call, the memory a call holds, on fresh networks of the
 * same space and scoring arithmetic (their buffers start empty, while the network's own have grown
 * to the largest call it has seen): the call on 2 images on one and on 4 images on another, with
 * every path of one op throughout (so each layer's largest op sizes the buffers), and the native
 * memory after it. Activation buffers scale with the images of a call (batch statistics need all
 * of them at once), so two points give the line; the numbers are the engine's own buffer sizes,
 * not a model of them. (One network per point: a network's call memory is shared from call to
 * call, see checkMemory, so a second call would read the larger of the two calls plus what the
 * second one did not fit into the first one's space.) Training steps use learning rate 0 on the
 * throwaway networks.
 */
async function measureMemory(net: Supernet, input: { height: number; width: number; channels: number }, kind: CallKind, bn: 'batch' | 'running'): Promise<MemoryLine> {
  const px = input.height * input.width * input.channels;
  const paths = net.space.opNames.map((_, op) => net.space.layers.map(() => op));
  const after = async (n: number): Promise<number> => {
    const probe = await Supernet.create(net.space, { seed: 0, scoreMath: net.scoreMath });
    try {
      const images = new Uint8Array(n * px);
      const labels = new Int32Array(n);
      if (kind === 'score') await probe.evaluate(paths, images, labels, { bn });
      else for (const path of paths) await probe.trainStep(path, images, labels, { lr: 0 });
      return probe.memoryBytes;
    } finally {
      await probe.dispose();
    }
  };
  const at2 = await after(2);
  const at4 = await after(4);
  const perImage = Math.max(0, (at4 - at2) / 2);
  return { fixed: at4 - 4 * perImage, perImage };
}

/**
 * The line the memory checks use for one kind of call (measured once per network): native bytes
 * = fixed + perImage x images. Exported for scripts/memory-lines.mjs, which holds it against a
 * real step.
 */
export function memoryLine(net: Supernet, input: { height: number; width: number; channels: number }, kind: CallKind, bn: 'batch' | 'running'): Promise<MemoryLine> {
  let lines = memoryLines.get(net);
  if (!lines) memoryLines.set(net, (lines = new Map()));
  const key = `${kind}:${bn}`;
  let line = lines.get(key);
  if (!line) lines.set(key, (line = measureMemory(net, input, kind, bn)));
  return line;
}

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/**
 * Refuses, before it starts, a CPU call of `n` images whose buffers would not fit in the memory
 * this process can still get (process.availableMemory(): free memory, within a cgroup's limit). A
 * network's calls share one block of memory (the engine's call arena: what a call's buffers hold
 * is dead when it returns), so the network holds the largest of its calls, not their sum:
 * `sharedWith` is the bytes another kind of call of the same network will need (checkTrainingMemory's
 * result), and the call needs the larger of that and its own. A call that overran would have the
 * process killed with no message. `what` names the call, `fix` the option that lowers n. On a GPU
 * backend the memory is the device's, and an allocation that fails there is reported as an error
 * already.
 */
async function checkMemory(net: Supernet, input: { height: number; width: number; channels: number }, kind: CallKind, bn: 'batch' | 'running', n: number, sharedWith: number, what: string, fix: string): Promise<number> {
  // (a stand-in scorer object, as the search tests pass, has no native memory to check)
  if (!(net instanceof Supernet) || !net.backend.startsWith('cpu')) return 0;
  const { fixed, perImage } = await memoryLine(net, input, kind, bn);
  const need = fixed + Math.max(perImage * n, sharedWith);
  const more = need - net.memoryBytes; // beyond what the network holds already
  const available = process.availableMemory();
  if (more <= 0.9 * available) return perImage * n;
  const fits = Math.max(0, Math.floor((0.9 * available + net.memoryBytes - fixed) / Math.max(1, perImage)));
  throw new ConfigError(
    `${what} needs about ${gb(need)} for this network on the CPU ` +
      `(${(perImage / 2 ** 20).toFixed(1)} MB per image, measured on this engine), but only ${gb(available)} is available: ` +
      fix.replace('N', String(fits)),
  );
}

/**
 * Refuses a CPU scoring call whose buffers would not fit in memory (checkMemory): at ImageNet size
 * a path costs ~10-12 MB per image scored at once, so a scoring set of 1,000 images needs ~12 GB.
 * `sharedWith`: the bytes of the network's training step (checkTrainingMemory), whose memory the
 * scoring calls reuse.
 */
export async function checkScoringMemory(net: Supernet, ds: Dataset, bn: 'batch' | 'running', sharedWith = 0): Promise<void> {
  const n = ds.labels.length;
  await checkMemory(net, ds, 'score', bn, n, sharedWith, `scoring ${n} images at once`,
    'score fewer images at once (about N fit now): --val-images for the greedy rounds, --search-images for the search');
}

/**
 * Refuses a CPU training run whose step at `batch` images would not fit in memory (checkMemory);
 * resolves with the bytes per step that the batch's activations hold, for the scoring checks of the
 * same network (whose calls reuse that memory).
 */
export async function checkTrainingMemory(net: Supernet, input: { height: number; width: number; channels: number }, batch: number, flag: string): Promise<number> {
  return checkMemory(net, input, 'train', 'batch', batch, 0, `training at batch ${batch}`, `lower ${flag} (about N images per batch fit now)`);
}
