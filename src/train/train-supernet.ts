// Supernet training with one of three samplers, same data, same schedule:
//   uniform  one uniform path per iteration under the budget (SPOS; optional FLOPs bins)
//   fair     per step, every choice of every layer once: |choices| paths, each on its own batch,
//            gradients summed, one update (FairNAS strict fairness)
//   greedy   a uniform warm-up (--greedy-warmup of the planned iterations), then GreedyNAS
//            rounds: m paths scored on one held-out batch in one batched native call, top-k kept
//            into the candidate pool and trained one iteration each; eps ramps from the end of
//            the warm-up; stopping rule on the turnover of a full pool at each epoch end
//            (docs/method.md, "Greedy supernet training")
// Checkpoints every N iterations and at each epoch end hold the weights, momentum, sampler
// state (pool, queue, RNG), loader position, counters and history; --resume continues exactly.
// metrics.csv (src/train/metrics-csv.ts) is rewritten from the history at every epoch end.
// config.json is written when a new run starts, and on --resume only once the run's checkpoint
// has loaded (a failed resume leaves the record as it was). A new run refuses a folder that holds
// a run (src/train/run-dir.ts).
import { join } from 'node:path';

import { createLoader, defaultAugmentation, imageCount, type Dataset, type LoaderState } from '../data/index.js';
import type { EngineOptions } from '../native/api.js';
import { Supernet } from '../native/engine.js';
import type { Constraints } from '../sampling/constraints.js';
import { FairSampler, type FairState } from '../sampling/fair.js';
import { GreedySampler, type GreedyState, type RoundRecord } from '../sampling/greedy.js';
import { CandidatePool } from '../sampling/pool.js';
import { UniformSampler, type UniformState } from '../sampling/uniform.js';
import { archSpaceOf } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { CheckpointStore } from './checkpoints.js';
import { DivergenceError, guardStep, type StepPlace } from './divergence.js';
import { ConfigError, poolCapacityFor, scoringImagesFor, type RunConfig } from './config.js';
import { learningRate } from './lr-schedule.js';
import { writeSupernetMetrics } from './metrics-csv.js';
import { fixedSubset, writeRunConfig, type Prepared } from './prepare.js';
import { runMarkers } from './run-dir.js';
import { RunLog } from './run-log.js';

export interface EpochSummary {
  epoch: number;
  iterations: number;
  trainLoss: number;
  trainAccuracy: number;
  /** Mean validation loss/accuracy of a fixed probe set of random paths (comparable across samplers). */
  probeLoss: number;
  probeAccuracy: number;
  /** GreedyNAS: the pool's best path on the validation images. */
  poolBestLoss?: number;
  poolBestAccuracy?: number;
  poolBest?: string;
  /** GreedyNAS: pool turnover of the epoch and the pool's size. */
  pi?: number;
  poolSize?: number;
  poolFull?: boolean;
  seconds: number;
}

interface TrainerState {
  version: 1;
  sampler: RunConfig['sampler'];
  iteration: number;
  epochsDone: number;
  stopped: string | null;
  samplerState: GreedyState | UniformState | FairState;
  loader: LoaderState;
  epochAcc: { loss: number; correct: number; count: number; seconds: number };
  history: EpochSummary[];
  eps: Array<{ iteration: number; eps: number }>;
  logBytes: number;
}

export interface SupernetResult {
  net: Supernet;
  history: EpochSummary[];
  eps: Array<{ iteration: number; eps: number }>;
  pool: CandidatePool | null;
  iterations: number;
  stoppedBy: string;
  checkpoint: string;
  /** Ctrl-C stopped the training (after its checkpoint). */
  interrupted: boolean;
}

export interface TrainOptions {
  resume: boolean;
  log: (line: string) => void;
  /** Stop after this many iterations in this process (tests of resume); a checkpoint is written there. */
  stopAfterIterations?: number;
  quiet?: boolean;
}

/** The FLOPs/params/latency constraints of a config as the samplers and searchers take them. */
export function constraintsOf(config: RunConfig, latencyCheck?: (arch: readonly number[]) => boolean): Constraints {
  const c: Constraints = {};
  if (config.flopsMax !== null) c.flops = config.flopsMax;
  if (config.paramsMax !== null) c.params = config.paramsMax;
  if (latencyCheck) c.check = latencyCheck;
  return c;
}

/** Engine options that place the supernet: the CPU (--gpus 0) or N GPUs, data parallel. */
export function engineDevice(c: RunConfig): Pick<EngineOptions, 'backend' | 'gpus' | 'math'> {
  return c.gpus > 0 ? { backend: 'cuda', gpus: c.gpus, math: c.math } : { backend: 'cpu' };
}

export async function createSupernet(p: Prepared, seed: number): Promise<Supernet> {
  const c = p.config;
  return Supernet.create(p.space, {
    seed,
    threads: c.threads,
    ...engineDevice(c),
    momentum: c.momentum,
    nesterov: c.nesterov,
    weightDecay: c.weightDecay,
    labelSmoothing: c.labelSmoothing,
  });
}

/** Scores paths on held-out images: {loss, accuracy} per path, every path on the same images. */
export function scorer(net: Supernet, ds: Dataset, bn: 'batch' | 'running' = 'batch') {
  return async (archs: Arch[]): Promise<Array<{ loss: number; accuracy: number }>> => {
    const r = await net.evaluate(archs, ds.images, ds.labels, { bn });
    return r.map((s) => ({ loss: s.loss, accuracy: s.correct / s.count }));
  };
}

export async function trainSupernet(p: Prepared, opts: TrainOptions, latencyCheck?: (arch: readonly number[]) => boolean): Promise<SupernetResult> {
  const c = p.config;
  if (!opts.resume) {
    const markers = runMarkers(p.dir);
    if (markers.length > 0) throw new ConfigError(`${p.dir} already holds a run (${markers.join(', ')}): resume it, or train into another folder`);
  }
  const net = await createSupernet(p, c.seed);
  const shape = archSpaceOf(p.space);
  const constraints = constraintsOf(c, latencyCheck);
  const loader = createLoader(p.train, {
    ...(p.data.pool ? { pool: p.data.pool } : {}),
    batchSize: c.batch,
    seed: c.seed,
    augment: defaultAugmentation(p.space.input, { flip: c.flip }),
    dropLast: true,
  });
  const bpe = loader.batchesPerEpoch;
  if (bpe < 1) throw new Error(`the training split has ${imageCount(p.train)} images, fewer than one batch of ${c.batch}`);
  const total = c.epochs * bpe;
  const warmup = Math.round(c.warmupEpochs * bpe);

  // Samplers
  const uniform = new UniformSampler(shape, { seed: c.seed + 101, costs: p.costs, constraints, ...(c.flopsBins > 0 ? { bins: { count: c.flopsBins } } : {}) });
  const fair = c.sampler === 'fair' ? new FairSampler(shape, { seed: c.seed + 202 }) : null;
  const pool = c.sampler === 'greedy' ? new CandidatePool({ capacity: poolCapacityFor(c, bpe) }) : null;
  const greedyWarmup = Math.round(c.greedyWarmup * total);
  const greedy =
    c.sampler === 'greedy'
      ? new GreedySampler({
          seed: c.seed + 303,
          uniform,
          pool: pool!,
          m: c.m,
          k: c.k,
          usePool: c.usePool,
          warmupIterations: greedyWarmup,
          eps: { totalIterations: total, epsMax: c.epsMax, t0: greedyWarmup },
          stopping: { alpha: c.alpha, enabled: c.stopping },
        })
      : null;

  // Held-out images: the GreedyNAS scoring batch (p.roundScoring; or, with --redraw-scoring-batch,
  // a new draw from the same part of the split every round), and a fixed probe set of random paths
  // measured at every epoch end for every sampler on the other part (p.searchSet), so that the probe
  // and the pool's best are judged on images the pool was not selected on.
  const scoringBatch = p.roundScoring;
  const probeImages = p.searchSet;
  const scoreRound = async (archs: Arch[], round: number): Promise<number[]> => {
    const ds = c.redrawScoringBatch ? fixedSubset(p.roundScoring, scoringImagesFor(c), c.seed + 404 + 7919 * round) : scoringBatch;
    return (await scorer(net, ds)(archs)).map((s) => s.loss);
  };
  if (greedy) {
    const perOp = greedyWarmup / shape.numChoices;
    opts.log(
      `greedy: uniform warm-up for ${greedyWarmup} of ${total} iterations (~${perOp.toFixed(0)} updates per op), then rounds of m=${c.m}, k=${c.k} scored on ${scoringBatch.labels.length} held-out images; pool capacity ${pool!.capacity}; eps 0 -> ${c.epsMax}`,
    );
  }
  const probeRng = new Rng(c.seed + 505);
  const probePaths = Array.from({ length: 10 }, () => Array.from({ length: shape.numLayers }, () => probeRng.int(shape.numChoices)));

  const log = new RunLog(join(p.dir, 'log.jsonl'));
  const store = new CheckpointStore(p.dir, 'supernet', p.runId, opts.log);
  let iteration = 0;
  let epochsDone = 0;
  let stopped: string | null = null;
  let epochAcc = { loss: 0, correct: 0, count: 0, seconds: 0 };
  let history: EpochSummary[] = [];
  let epsTrace: Array<{ iteration: number; eps: number }> = [];

  if (opts.resume) {
    const loaded = await store.load<TrainerState>(net, opts.log);
    if (loaded) {
      const s = loaded.state;
      if (s.version !== 1 || s.sampler !== c.sampler) throw new Error(`checkpoint ${loaded.info.file} was written by --sampler ${s.sampler}, this run uses --sampler ${c.sampler}`);
      iteration = s.iteration;
      epochsDone = s.epochsDone;
      stopped = s.stopped;
      epochAcc = s.epochAcc;
      history = s.history;
      epsTrace = s.eps;
      loader.restore(s.loader);
      if (greedy) greedy.restore(s.samplerState as GreedyState);
      else if (fair) fair.restore(s.samplerState as FairState);
      else uniform.restore(s.samplerState as UniformState);
      log.truncate(s.logBytes);
      opts.log(`resumed from ${loaded.info.file} at iteration ${iteration} (epoch ${epochsDone + 1})`);
    } else {
      opts.log('no checkpoint to resume from: starting from scratch');
    }
  }
  writeRunConfig(p);
  if (!opts.resume || iteration === 0) log.truncate(0);

  const state = (): TrainerState => ({
    version: 1,
    sampler: c.sampler,
    iteration,
    epochsDone,
    stopped,
    samplerState: greedy ? greedy.state() : fair ? fair.state() : uniform.state(),
    loader: loader.state(),
    epochAcc,
    history,
    eps: epsTrace,
    logBytes: log.bytes,
  });
  let lastCheckpoint = '';
  const checkpoint = async () => {
    lastCheckpoint = await store.save(net, iteration, state());
    if (pool) writeJsonAtomic(join(p.dir, 'pool.json'), pool.toJSON());
  };

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    opts.log('\ninterrupt: finishing the current iteration and writing a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);

  const progress = new Progress(`supernet (${c.sampler})`, total, 'it', process.stderr, opts.quiet);
  const startIteration = iteration;
  let sinceStart = 0;
  let epochStarted = Date.now();

  const account = (r: { loss: number; correct: number }, count: number) => {
    epochAcc.loss += r.loss * count;
    epochAcc.correct += r.correct;
    epochAcc.count += count;
    return r;
  };
  const place = (path: string, lr: number): StepPlace => ({ stage: 'supernet', iteration, path, lr, lastCheckpoint });
  const trainOne = async (arch: Arch, lr: number) => {
    const b = await loader.next();
    return account(await guardStep(() => net.trainStep(arch, b.images, b.labels, { lr }), place(archKey(arch), lr), c.maxLoss), b.count);
  };

  const endEpoch = async () => {
    const probe = await scorer(net, probeImages)(probePaths);
    const summary: EpochSummary = {
      epoch: epochsDone + 1,
      iterations: iteration,
      trainLoss: epochAcc.loss / Math.max(1, epochAcc.count),
      trainAccuracy: epochAcc.correct / Math.max(1, epochAcc.count),
      probeLoss: probe.reduce((a, s) => a + s.loss, 0) / probe.length,
      probeAccuracy: probe.reduce((a, s) => a + s.accuracy, 0) / probe.length,
      seconds: epochAcc.seconds + (Date.now() - epochStarted) / 1000,
    };
    if (greedy && pool) {
      const turnover = greedy.endEpoch();
      summary.pi = turnover.pi;
      summary.poolSize = pool.size;
      const best = pool.best(1)[0];
      if (best) {
        const [s] = await scorer(net, probeImages)([[...best.arch]]);
        summary.poolBest = best.key;
        summary.poolBestLoss = s!.loss;
        summary.poolBestAccuracy = s!.accuracy;
      }
      summary.poolFull = turnover.poolFull;
      if (turnover.stop) stopped = `pool turnover pi = ${turnover.pi.toFixed(3)} <= alpha = ${c.alpha} after epoch ${summary.epoch}`;
    }
    history.push(summary);
    log.write({ type: 'epoch', ...summary });
    writeSupernetMetrics(p.dir, history);
    epochsDone++;
    epochAcc = { loss: 0, correct: 0, count: 0, seconds: 0 };
    epochStarted = Date.now();
    progress.done();
    opts.log(
      `epoch ${summary.epoch}/${c.epochs}: train loss ${summary.trainLoss.toFixed(4)} acc ${(100 * summary.trainAccuracy).toFixed(2)}%` +
        ` | probe paths held-out acc ${(100 * summary.probeAccuracy).toFixed(2)}%` +
        (summary.poolBestAccuracy !== undefined ? ` | pool best held-out acc ${(100 * summary.poolBestAccuracy).toFixed(2)}% | pi ${summary.pi!.toFixed(3)} | pool ${summary.poolSize}/${pool?.capacity}` : '') +
        ` | ${summary.seconds.toFixed(1)} s`,
    );
    await checkpoint();
  };

  try {
    while (iteration < total && stopped === null && !interrupted) {
      if (opts.stopAfterIterations !== undefined && sinceStart >= opts.stopAfterIterations) break;
      const epochBefore = Math.floor(iteration / bpe);
      const lr = learningRate(iteration, total, warmup, c.lr);
      if (greedy) {
        const arch = await greedy.next(
          (archs) => scoreRound(archs, greedy.rounds),
          (record: RoundRecord) => {
            log.write({ type: 'round', ...record });
            epsTrace.push({ iteration: record.iteration, eps: record.eps });
          },
        );
        const r = await trainOne(arch, lr);
        log.write({ type: 'train', iteration, path: archKey(arch), loss: r.loss, lr });
        iteration++;
        sinceStart++;
      } else if (fair) {
        const paths = fair.step();
        let loss = 0;
        for (const arch of paths) {
          const b = await loader.next();
          loss += account(await guardStep(() => net.accumulateGradients(arch, b.images, b.labels), place(archKey(arch), lr), c.maxLoss), b.count).loss / paths.length;
        }
        await guardStep(async () => (await net.applyUpdate(lr), { loss }), place(paths.map(archKey).join(' '), lr), c.maxLoss);
        log.write({ type: 'train', iteration, paths: paths.map(archKey), loss, lr });
        iteration += paths.length;
        sinceStart += paths.length;
      } else {
        const arch = uniform.sample();
        const r = await trainOne(arch, lr);
        log.write({ type: 'train', iteration, path: archKey(arch), loss: r.loss, lr });
        iteration++;
        sinceStart++;
      }
      progress.update(iteration, `lr ${lr.toExponential(2)}${greedy ? ` eps ${greedy.currentEps().toFixed(2)} pool ${pool!.size}` : ''}`, startIteration);
      const crossedEpoch = Math.floor(iteration / bpe) > epochBefore;
      if (crossedEpoch || iteration >= total) await endEpoch();
      else if (iteration % c.checkpointEvery === 0 || interrupted) await checkpoint();
    }
    if (interrupted || (opts.stopAfterIterations !== undefined && iteration < total && stopped === null)) {
      await checkpoint();
      progress.done();
      if (interrupted) opts.log(`stopped at iteration ${iteration}; continue with --resume`);
    }
  } catch (e) {
    // The log records why the run ended; the checkpoints on disk are the last good ones (the
    // engine refuses to save non-finite values, which is the GNAS_NONFINITE caught here).
    const code = (e as { code?: string }).code;
    const err = code === 'GNAS_NONFINITE' && !(e instanceof DivergenceError) ? new DivergenceError(`supernet training stopped at iteration ${iteration}: ${(e as Error).message}`) : e;
    if (err instanceof DivergenceError) log.write({ type: 'diverged', iteration, message: err.message });
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (lastCheckpoint === '') await checkpoint();
  const stoppedBy = stopped ?? (iteration >= total ? `epoch cap (${c.epochs} epochs)` : interrupted ? 'interrupted' : 'iteration limit of this process');
  if (iteration >= total || stopped !== null) opts.log(`supernet training finished: ${stoppedBy}, ${iteration} iterations`);
  return { net, history, eps: epsTrace, pool, iterations: iteration, stoppedBy, checkpoint: lastCheckpoint, interrupted };
}
