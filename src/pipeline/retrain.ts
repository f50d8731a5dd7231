// Retraining the chosen path from scratch (docs/method.md, "After the search"): the path is materialised as
// a static network holding only its ops (a space with one op per layer), initialised fresh,
// trained on the full training set (the held-out split included) with the standard recipe
// (SGD, cosine schedule, label smoothing, the same augmentation), then measured once on the
// test set with running BN statistics.
import { createLoader, defaultAugmentation, type Dataset, type LoaderState } from '../data/index.js';
import type { Supernet } from '../native/engine.js';
import type { Arch, ResolvedSpace } from '../space/types.js';
import { archKey } from '../space/types.js';
import { Progress } from '../util/progress.js';
import { CheckpointStore } from '../train/checkpoints.js';
import { guardStep, type StepPlace } from '../train/divergence.js';
import { learningRate } from '../train/lr-schedule.js';
import type { RunConfig } from './config.js';
import { checkTrainingMemory, createSupernet, type EngineSettings } from './engine-setup.js';
import type { Prepared } from './prepare.js';

/** The settings retraining reads: the engine's, and the retraining recipe. */
export type RetrainSettings = Omit<EngineSettings, 'scoreMath'> & Pick<RunConfig, 'seed' | 'retrainEpochs' | 'retrainLr' | 'retrainBatch' | 'warmupEpochs' | 'flip' | 'maxLoss'>;

/** The single-path network of `arch`: every searchable layer keeps only its chosen op (choice 0). */
export function materialise(space: ResolvedSpace, arch: Arch): ResolvedSpace {
  const layers = space.layers.map((l, i) => ({ ...l, ops: [l.ops[arch[i]!]!] }));
  return { ...space, name: `${space.name}:${archKey(arch)}`, layers, opNames: ['chosen'] };
}

/** Images per evaluate call: the engine's workspace grows with the batch (10,000 CIFAR images would take ~10 GB). */
const EVAL_CHUNK = 500;

/** Loss (mean) and correct count of one path with running BN statistics, in chunks (exact: no batch statistics). */
export async function evaluateInChunks(net: Supernet, path: Arch, ds: Dataset): Promise<{ loss: number; correct: number; count: number }> {
  const px = ds.height * ds.width * ds.channels;
  let loss = 0;
  let correct = 0;
  const n = ds.labels.length;
  for (let i = 0; i < n; i += EVAL_CHUNK) {
    const j = Math.min(n, i + EVAL_CHUNK);
    const [r] = await net.evaluate([path], ds.images.subarray(i * px, j * px), ds.labels.subarray(i, j), { bn: 'running' });
    loss += r!.loss * r!.count;
    correct += r!.correct;
  }
  return { loss: loss / n, correct, count: n };
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
  /** With evaluateHeldOut: accuracy and loss on the held-out split. */
  heldOutAccuracy?: number;
  heldOutLoss?: number;
}

interface RetrainState {
  version: 1;
  arch: string;
  iteration: number;
  loader: LoaderState;
  epochs: RetrainEpoch[];
  acc: { loss: number; correct: number; count: number };
}

export interface RetrainOptions {
  log: (l: string) => void;
  resume: boolean;
  quiet?: boolean;
  /** 'full' (default): the whole training set, held-out split included; 'train-split': without the held-out images (ground truth, so that the held-out accuracy means something). */
  trainOn?: 'full' | 'train-split';
  /** Seed offset of the fresh weights and the data order (ground truth with several seeds). */
  seedOffset?: number;
  /** false: no checkpoints (a ground-truth run restarts a path that was cut short). Default true. */
  checkpoints?: boolean;
  /** Also measure the held-out split with running BN statistics. */
  evaluateHeldOut?: boolean;
}

export async function retrain(p: Prepared<RetrainSettings>, arch: Arch, opts: RetrainOptions): Promise<RetrainResult> {
  const c = p.config;
  const space = materialise(p.space, arch);
  const path = space.layers.map(() => 0);
  const seed = c.seed + (opts.seedOffset ?? 0);
  // A reported accuracy, not a ranking: always FP32, whatever --score-math says for scoring.
  const net = await createSupernet(space, { ...c, scoreMath: 'fp32' }, seed + 909);
  await checkTrainingMemory(net, space.input, c.retrainBatch, '--retrain-batch');
  const trainSet = opts.trainOn === 'train-split' ? p.train : p.data.train;
  const loader = createLoader(trainSet, { ...(p.data.pool ? { pool: p.data.pool } : {}), batchSize: c.retrainBatch, seed: seed + 910, augment: defaultAugmentation(space.input, { flip: c.flip }), dropLast: true });
  const bpe = loader.batchesPerEpoch;
  const total = c.retrainEpochs * bpe;
  const warmup = Math.round(c.warmupEpochs * bpe);
  const store = opts.checkpoints === false ? null : new CheckpointStore(p.dir, 'retrain', p.runId, opts.log);
  let iteration = 0;
  let epochs: RetrainEpoch[] = [];
  let acc = { loss: 0, correct: 0, count: 0 };
  if (opts.resume && store) {
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
  let lastSaved = opts.resume && store ? (store.list()[0]?.file ?? '') : '';
  while (iteration < total) {
    const b = await loader.next();
    const lr = learningRate(iteration, total, warmup, c.retrainLr);
    const place: StepPlace = { stage: 'retraining', iteration, path: archKey(arch), lr, lastCheckpoint: lastSaved };
    const r = await guardStep(() => net.trainStep(path, b.images, b.labels, { lr }), place, c.maxLoss);
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
      if (store) lastSaved = await store.save(net, iteration, { version: 1, arch: archKey(arch), iteration, loader: loader.state(), epochs, acc } satisfies RetrainState);
    }
  }
  const test = p.data.test;
  const r = await evaluateInChunks(net, path, test);
  const result: RetrainResult = { arch, net, space, epochs, testLoss: r!.loss, testAccuracy: r!.correct / r!.count, testImages: r!.count };
  if (opts.evaluateHeldOut && p.val.labels.length > 0) {
    const h = await evaluateInChunks(net, path, p.val);
    result.heldOutAccuracy = h!.correct / h!.count;
    result.heldOutLoss = h!.loss;
  }
  opts.log(`retrained ${archKey(arch)}: test accuracy ${(100 * result.testAccuracy).toFixed(2)}% on ${result.testImages} test images`);
  return result;
}
