// The fidelity row of `npm run bench`: does bfloat16 scoring rank paths as FP32 scoring does?
// Losses of random paths at initialisation are all ~ln(classes), so a rank correlation there
// measures noise; the check first trains the supernet a little on real images (the shipped
// Fashion-MNIST sample, which has W1's 28x28x1 shape and 10 classes: uniform random paths, one
// per step), then scores the same random paths on the same held-out images twice, with an FP32
// supernet and with a bfloat16-scoring one holding the same weights, and compares the losses.
import { join } from 'node:path';

import { kendallTau, spearman } from '../analysis/rank-stats.js';
import { loadIdxDataset } from '../data/idx.js';
import type { Supernet } from '../native/engine.js';
import { packageRoot } from '../util/package-root.js';
import { Rng } from '../util/rng.js';

export interface FidelityResult {
  data: string;
  trainSteps: number;
  batch: number;
  paths: number;
  images: number;
  kendallTau: number;
  spearman: number;
  /** Spread of the FP32 losses (max - min): tau is only meaningful when the paths differ. */
  lossSpread: number;
  maxAbsLossDiff: number;
  trainSeconds: number;
}

export interface FidelityPlan {
  trainSteps: number;
  paths: number;
  images: number;
}

/** Copies every tensor (weights, BN statistics) of `from` into `to` (same space). */
export function copyWeights(from: Supernet, to: Supernet): void {
  for (const t of from.tensorInfo()) to.setTensor(t.name, from.getTensor(t.name));
}

/** Trains `fp32` in place, copies its weights into `bf16`, scores plan.paths random paths with both. */
export async function scoreFidelity(fp32: Supernet, bf16: Supernet, plan: FidelityPlan, batch: number): Promise<FidelityResult> {
  const dir = join(packageRoot(), 'data', 'fmnist-mini');
  const train = await loadIdxDataset(join(dir, 'train-images-idx3-ubyte.gz'), join(dir, 'train-labels-idx1-ubyte.gz'));
  const test = await loadIdxDataset(join(dir, 't10k-images-idx3-ubyte.gz'), join(dir, 't10k-labels-idx1-ubyte.gz'));
  const space = fp32.space;
  const { height, width, channels } = space.input;
  if (train.height !== height || train.width !== width || train.channels !== channels || train.classes !== space.classes) {
    throw new Error(`fidelity check: the space's input ${height}x${width}x${channels}/${space.classes} is not Fashion-MNIST's`);
  }
  const pixels = height * width * channels;
  const rng = new Rng(4242);
  const randomPath = () => space.layers.map(() => rng.int(space.opNames.length));
  const nTrain = train.labels.length;
  const t0 = performance.now();
  for (let s = 0; s < plan.trainSteps; s++) {
    const lo = ((s * batch) % (nTrain - batch + 1));
    const images = train.images.subarray(lo * pixels, (lo + batch) * pixels);
    const labels = train.labels.subarray(lo, lo + batch);
    await fp32.trainStep(randomPath(), images, labels, { lr: 0.05 });
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  copyWeights(fp32, bf16);
  const n = Math.min(plan.images, test.labels.length);
  const images = test.images.subarray(0, n * pixels);
  const labels = test.labels.subarray(0, n);
  const paths = Array.from({ length: plan.paths }, randomPath);
  const a = (await fp32.evaluate(paths, images, labels, { bn: 'batch' })).map((r) => r.loss);
  const b = (await bf16.evaluate(paths, images, labels, { bn: 'batch' })).map((r) => r.loss);
  return {
    data: 'fmnist-mini (train: first images cycled; scored: first t10k images)',
    trainSteps: plan.trainSteps,
    batch,
    paths: plan.paths,
    images: n,
    kendallTau: kendallTau(a, b),
    spearman: spearman(a, b),
    lossSpread: Math.max(...a) - Math.min(...a),
    maxAbsLossDiff: Math.max(...a.map((x, i) => Math.abs(x - b[i]!))),
    trainSeconds,
  };
}
