// Retraining the chosen path from scratch (ALGORITHM.md section 6): the path is materialised as
// a static network holding only its ops (a space with one op per layer), initialised fresh,
// trained on the full training set (the held-out split included) with the standard recipe
// (SGD, cosine schedule, label smoothing, the same augmentation), then measured once on the
// test set with running BN statistics.
import { BatchLoader, defaultAugmentation, type LoaderState } from '../data/index.js';
import { Supernet } from '../native/engine.js';
import type { Arch, ResolvedSpace } from '../space/types.js';
import { archKey } from '../space/types.js';
import { Progress } from '../util/progress.js';
import { CheckpointStore } from './checkpoints.js';
import { learningRate } from './lr-schedule.js';
import { engineDevice } from './train-supernet.js';
import type { Prepared } from './prepare.js';

/** The single-path network of `arch`: every searchable layer keeps only its chosen op (choice 0). */
export function materialise(space: ResolvedSpace, arch: Arch): ResolvedSpace {
  const layers = space.layers.map((l, i) => ({ ...l, ops: [l.ops[arch[i]!]!] }));
  return { ...space, name: `${space.name}:${archKey(arch)}`, layers, opNames: ['chosen'] };
}

export interface RetrainEpoch {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  seconds: number;
}

export interface RetrainResult {
  arch: Arch;
  net: Supernet;
  /** The materialised space (arch within it: all zeros). */
  space: ResolvedSpace;
  epochs: RetrainEpoch[];
  testLoss: number;
  testAccuracy: number;
  testImages: number;
}

interface RetrainState {
  version: 1;
  arch: string;
  iteration: number;
  loader: LoaderState;
  epochs: RetrainEpoch[];
  acc: { loss: number; correct: number; count: number };
}

export async function retrain(p: Prepared, arch: Arch, opts: { log: (l: string) => void; resume: boolean; quiet?: boolean }): Promise<RetrainResult> {
  const c = p.config;
  const space = materialise(p.space, arch);
  const path = space.layers.map(() => 0);
  const net = await Supernet.create(space, { seed: c.seed + 909, threads: c.threads, ...engineDevice(c), momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay, labelSmoothing: c.labelSmoothing });
  const loader = new BatchLoader(p.data.train, { batchSize: c.retrainBatch, seed: c.seed + 910, augment: defaultAugmentation(space.input, { flip: c.flip }), dropLast: true });
  const bpe = loader.batchesPerEpoch;
  const total = c.retrainEpochs * bpe;
  const warmup = Math.round(c.warmupEpochs * bpe);
  const store = new CheckpointStore(p.dir, 'retrain');
  let iteration = 0;
  let epochs: RetrainEpoch[] = [];
  let acc = { loss: 0, correct: 0, count: 0 };
  if (opts.resume) {
    const loaded = await store.load<RetrainState>(net, opts.log);
    if (loaded && loaded.state.arch === archKey(arch)) {
      ({ iteration, epochs, acc } = loaded.state);
      loader.restore(loaded.state.loader);
      opts.log(`retrain: resumed from ${loaded.info.file} at iteration ${iteration}`);
    }
  }
  const progress = new Progress(`retrain ${archKey(arch)}`, total, 'it', process.stderr, opts.quiet);
  let started = Date.now();
  const base = iteration;
  while (iteration < total) {
    const b = await loader.next();
    const lr = learningRate(iteration, total, warmup, c.retrainLr);
    const r = await net.trainStep(path, b.images, b.labels, { lr });
    acc.loss += r.loss * b.count;
    acc.correct += r.correct;
    acc.count += b.count;
    iteration++;
    progress.update(iteration, `loss ${r.loss.toFixed(3)}`, base);
    if (iteration % bpe === 0) {
      const e = { epoch: iteration / bpe, trainLoss: acc.loss / acc.count, trainAccuracy: acc.correct / acc.count, seconds: (Date.now() - started) / 1000 };
      epochs.push(e);
      progress.done();
      opts.log(`retrain epoch ${e.epoch}/${c.retrainEpochs}: loss ${e.trainLoss.toFixed(4)} acc ${(100 * e.trainAccuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)`);
      acc = { loss: 0, correct: 0, count: 0 };
      started = Date.now();
      await store.save(net, iteration, { version: 1, arch: archKey(arch), iteration, loader: loader.state(), epochs, acc } satisfies RetrainState);
    }
  }
  const test = p.data.test;
  const [r] = await net.evaluate([path], test.images, test.labels, { bn: 'running' });
  const result: RetrainResult = { arch, net, space, epochs, testLoss: r!.loss, testAccuracy: r!.correct / r!.count, testImages: r!.count };
  opts.log(`retrained ${archKey(arch)}: test accuracy ${(100 * result.testAccuracy).toFixed(2)}% on ${result.testImages} test images`);
  return result;
}
