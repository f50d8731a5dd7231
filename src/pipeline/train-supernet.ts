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
// metrics.csv (src/pipeline/metrics-csv.ts) is rewritten from the history at every epoch end.
// config.json is written when a new run starts, and on --resume only once the run's checkpoint
// has loaded (a failed resume leaves the record as it was). A new run refuses a folder that holds
// a run (src/pipeline/run-dir.ts).
//
// trainSupernet() builds a SupernetTrainer (network, loader, samplers, held-out images, log and
// checkpoint store), resumes it, runs its loop and returns what it trained. The trainer's steps:
// resume() restores everything a checkpoint holds; trainIteration() is one iteration of the
// run's sampler; endEpoch() measures and records the epoch and applies the stopping rule;
// checkpoint() writes the weights with the trainer's state.
import { join } from 'node:path';

import { createLoader, defaultAugmentation, imageCount, type LoaderState, type TrainingLoader } from '../data/index.js';
import type { Supernet } from '../native/engine.js';
import type { CandidatePool } from '../sampling/pool.js';
import type { RoundRecord } from '../sampling/greedy.js';
import { archSpaceOf, type ArchSpace } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { CheckpointStore } from '../train/checkpoints.js';
import { DivergenceError, guardStep, type StepPlace } from '../train/divergence.js';
import { learningRate } from '../train/lr-schedule.js';
import { RunLog } from '../train/run-log.js';
import { ConfigError, scoringImagesFor, type RunConfig } from './config.js';
import { checkScoringMemory, checkTrainingMemory, constraintsOf, createSupernet, scorer, type BudgetSettings, type EngineSettings } from './engine-setup.js';
import { writeSupernetMetrics } from './metrics-csv.js';
import { fixedSubset, type HeldOutSettings, type Prepared } from './prepare.js';
import { runMarkers } from './run-dir.js';
import { createSamplers, restoreSampler, samplerState, type SamplerSettings, type Samplers, type SamplerState } from './supernet-samplers.js';

/** The settings supernet training reads. */
export type SupernetTrainingSettings = EngineSettings &
  BudgetSettings &
  SamplerSettings &
  HeldOutSettings &
  Pick<RunConfig, 'epochs' | 'lr' | 'warmupEpochs' | 'flip' | 'checkpointEvery' | 'maxLoss'>;

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

type EpochTotals = { loss: number; correct: number; count: number; seconds: number };

/** What a checkpoint holds besides the weights (its keys are the checkpoint format: keep them). */
interface TrainerState {
  version: 1;
  sampler: RunConfig['sampler'];
  iteration: number;
  epochsDone: number;
  stopped: string | null;
  samplerState: SamplerState;
  loader: LoaderState;
  epochAcc: EpochTotals;
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
  /** `run` retrains the best path afterwards at this batch: checked against memory now too. */
  retrainBatch?: number;
}

/** Iterations of the run: `perEpoch` batches an epoch, `total` in all, `warmup` of learning-rate warm-up. */
interface Schedule {
  perEpoch: number;
  total: number;
  warmup: number;
}

/** Random paths measured on held-out images at every epoch end, the same for every sampler. */
const PROBE_PATHS = 10;

/**
 * The held-out images of training: the GreedyNAS scoring batch (p.roundScoring; or, with
 * --redraw-scoring-batch, a new draw from the same part of the split every round), and a fixed
 * probe set of random paths measured at every epoch end for every sampler on the other part
 * (p.searchSet), so that the probe and the pool's best are judged on images the pool was not
 * selected on.
 */
class HeldOut {
  readonly probePaths: Arch[];
  constructor(
    private readonly p: Prepared<SupernetTrainingSettings>,
    private readonly net: Supernet,
    shape: ArchSpace,
  ) {
    const probeRng = new Rng(p.config.seed + 505);
    this.probePaths = Array.from({ length: PROBE_PATHS }, () => Array.from({ length: shape.numLayers }, () => probeRng.int(shape.numChoices)));
  }

  get scoringImages(): number {
    return this.p.roundScoring.labels.length;
  }

  /** Losses of a greedy round's m paths. */
  async scoreRound(archs: Arch[], round: number): Promise<number[]> {
    const c = this.p.config;
    const ds = c.redrawScoringBatch ? fixedSubset(this.p.roundScoring, scoringImagesFor(c), c.seed + 404 + 7919 * round) : this.p.roundScoring;
    return (await scorer(this.net, ds)(archs)).map((s) => s.loss);
  }

  /** {loss, accuracy} of paths on the probe images. */
  probe(archs: Arch[]): Promise<Array<{ loss: number; accuracy: number }>> {
    return scorer(this.net, this.p.searchSet)(archs);
  }
}

class SupernetTrainer {
  iteration = 0;
  private epochsDone = 0;
  private stopped: string | null = null;
  private epochAcc: EpochTotals = { loss: 0, correct: 0, count: 0, seconds: 0 };
  private history: EpochSummary[] = [];
  private epsTrace: Array<{ iteration: number; eps: number }> = [];
  private lastCheckpoint = '';
  private interrupted = false;
  /** Iterations trained by this process (--stopAfterIterations counts these). */
  private sinceStart = 0;
  private epochStarted = Date.now();
  private readonly runLog: RunLog;
  private readonly store: CheckpointStore;

  constructor(
    private readonly p: Prepared<SupernetTrainingSettings>,
    private readonly opts: TrainOptions,
    private readonly net: Supernet,
    private readonly loader: TrainingLoader,
    private readonly samplers: Samplers,
    private readonly heldOut: HeldOut,
    private readonly schedule: Schedule,
  ) {
    this.runLog = new RunLog(join(p.dir, 'log.jsonl'));
    this.store = new CheckpointStore(p.dir, 'supernet', p.runId, opts.log);
  }

  /** With --resume: everything from the newest good checkpoint; then the run's record and a log that matches the weights. */
  async start(): Promise<void> {
    const c = this.p.config;
    if (this.opts.resume) {
      const loaded = await this.store.load<TrainerState>(this.net, this.opts.log);
      if (loaded) {
        const s = loaded.state;
        if (s.version !== 1 || s.sampler !== c.sampler) throw new Error(`checkpoint ${loaded.info.file} was written by --sampler ${s.sampler}, this run uses --sampler ${c.sampler}`);
        this.iteration = s.iteration;
        this.epochsDone = s.epochsDone;
        this.stopped = s.stopped;
        this.epochAcc = s.epochAcc;
        this.history = s.history;
        this.epsTrace = s.eps;
        this.loader.restore(s.loader);
        restoreSampler(this.samplers, s.samplerState);
        this.runLog.truncate(s.logBytes);
        this.opts.log(`resumed from ${loaded.info.file} at iteration ${this.iteration} (epoch ${this.epochsDone + 1})`);
      } else {
        this.opts.log('no checkpoint to resume from: starting from scratch');
      }
    }
    this.p.recordRun();
    if (!this.opts.resume || this.iteration === 0) this.runLog.truncate(0);
  }

  private state(): TrainerState {
    return {
      version: 1,
      sampler: this.p.config.sampler,
      iteration: this.iteration,
      epochsDone: this.epochsDone,
      stopped: this.stopped,
      samplerState: samplerState(this.samplers),
      loader: this.loader.state(),
      epochAcc: this.epochAcc,
      history: this.history,
      eps: this.epsTrace,
      logBytes: this.runLog.bytes,
    };
  }

  private async checkpoint(): Promise<void> {
    this.lastCheckpoint = await this.store.save(this.net, this.iteration, this.state());
    if (this.samplers.pool) writeJsonAtomic(join(this.p.dir, 'pool.json'), this.samplers.pool.toJSON());
  }

  private account(r: { loss: number; correct: number }, count: number): { loss: number; correct: number } {
    this.epochAcc.loss += r.loss * count;
    this.epochAcc.correct += r.correct;
    this.epochAcc.count += count;
    return r;
  }

  private place(path: string, lr: number): StepPlace {
    return { stage: 'supernet', iteration: this.iteration, path, lr, lastCheckpoint: this.lastCheckpoint };
  }

  /** One training step of `arch` on the next batch. */
  private async trainPath(arch: Arch, lr: number): Promise<{ loss: number; correct: number }> {
    const b = await this.loader.next();
    return this.account(await guardStep(() => this.net.trainStep(arch, b.images, b.labels, { lr }), this.place(archKey(arch), lr), this.p.config.maxLoss), b.count);
  }

  /** One iteration of the run's sampler (a fair step trains |choices| paths and counts as that many iterations). */
  private async trainIteration(lr: number): Promise<void> {
    const { greedy, fair, uniform } = this.samplers;
    if (fair) {
      const paths = fair.step();
      let loss = 0;
      for (const arch of paths) {
        const b = await this.loader.next();
        const r = await guardStep(() => this.net.accumulateGradients(arch, b.images, b.labels), this.place(archKey(arch), lr), this.p.config.maxLoss);
        loss += this.account(r, b.count).loss / paths.length;
      }
      await guardStep(async () => (await this.net.applyUpdate(lr), { loss }), this.place(paths.map(archKey).join(' '), lr), this.p.config.maxLoss);
      this.runLog.write({ type: 'train', iteration: this.iteration, paths: paths.map(archKey), loss, lr });
      this.iteration += paths.length;
      this.sinceStart += paths.length;
      return;
    }
    const arch = greedy
      ? await greedy.next(
          (archs) => this.heldOut.scoreRound(archs, greedy.rounds),
          (record: RoundRecord) => {
            this.runLog.write({ type: 'round', ...record });
            this.epsTrace.push({ iteration: record.iteration, eps: record.eps });
          },
        )
      : uniform.sample();
    const r = await this.trainPath(arch, lr);
    this.runLog.write({ type: 'train', iteration: this.iteration, path: archKey(arch), loss: r.loss, lr });
    this.iteration++;
    this.sinceStart++;
  }

  /** The epoch's summary (train loss, probe paths, the pool's best and turnover), logged and checkpointed; the stopping rule. */
  private async endEpoch(progress: Progress): Promise<void> {
    const c = this.p.config;
    const { greedy, pool } = this.samplers;
    const probe = await this.heldOut.probe(this.heldOut.probePaths);
    const acc = this.epochAcc;
    const summary: EpochSummary = {
      epoch: this.epochsDone + 1,
      iterations: this.iteration,
      trainLoss: acc.loss / Math.max(1, acc.count),
      trainAccuracy: acc.correct / Math.max(1, acc.count),
      probeLoss: probe.reduce((a, s) => a + s.loss, 0) / probe.length,
      probeAccuracy: probe.reduce((a, s) => a + s.accuracy, 0) / probe.length,
      seconds: acc.seconds + (Date.now() - this.epochStarted) / 1000,
    };
    if (greedy && pool) {
      const turnover = greedy.endEpoch();
      summary.pi = turnover.pi;
      summary.poolSize = pool.size;
      const best = pool.best(1)[0];
      if (best) {
        const [s] = await this.heldOut.probe([[...best.arch]]);
        summary.poolBest = best.key;
        summary.poolBestLoss = s!.loss;
        summary.poolBestAccuracy = s!.accuracy;
      }
      summary.poolFull = turnover.poolFull;
      if (turnover.stop) this.stopped = `pool turnover pi = ${turnover.pi.toFixed(3)} <= alpha = ${c.alpha} after epoch ${summary.epoch}`;
    }
    this.history.push(summary);
    this.runLog.write({ type: 'epoch', ...summary });
    writeSupernetMetrics(this.p.dir, this.history);
    this.epochsDone++;
    this.epochAcc = { loss: 0, correct: 0, count: 0, seconds: 0 };
    this.epochStarted = Date.now();
    progress.done();
    this.opts.log(
      `epoch ${summary.epoch}/${c.epochs}: train loss ${summary.trainLoss.toFixed(4)} acc ${(100 * summary.trainAccuracy).toFixed(2)}%` +
        ` | probe paths held-out acc ${(100 * summary.probeAccuracy).toFixed(2)}%` +
        (summary.poolBestAccuracy !== undefined ? ` | pool best held-out acc ${(100 * summary.poolBestAccuracy).toFixed(2)}% | pi ${summary.pi!.toFixed(3)} | pool ${summary.poolSize}/${pool?.capacity}` : '') +
        ` | ${summary.seconds.toFixed(1)} s`,
    );
    await this.checkpoint();
  }

  /** Trains until the epoch cap, the stopping rule, Ctrl-C or this process' iteration limit; checkpoints on the way. */
  async run(): Promise<void> {
    const onSigint = () => {
      if (this.interrupted) process.exit(130);
      this.interrupted = true;
      this.opts.log('\ninterrupt: finishing the current iteration and writing a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    const c = this.p.config;
    const { perEpoch, total, warmup } = this.schedule;
    const { greedy, pool } = this.samplers;
    const limit = this.opts.stopAfterIterations;
    const progress = new Progress(`supernet (${c.sampler})`, total, 'it', process.stderr, this.opts.quiet);
    const startIteration = this.iteration;
    this.epochStarted = Date.now();
    try {
      while (this.iteration < total && this.stopped === null && !this.interrupted) {
        if (limit !== undefined && this.sinceStart >= limit) break;
        const epochBefore = Math.floor(this.iteration / perEpoch);
        const lr = learningRate(this.iteration, total, warmup, c.lr);
        await this.trainIteration(lr);
        progress.update(this.iteration, `lr ${lr.toExponential(2)}${greedy ? ` eps ${greedy.currentEps().toFixed(2)} pool ${pool!.size}` : ''}`, startIteration);
        const crossedEpoch = Math.floor(this.iteration / perEpoch) > epochBefore;
        if (crossedEpoch || this.iteration >= total) await this.endEpoch(progress);
        else if (this.iteration % c.checkpointEvery === 0 || this.interrupted) await this.checkpoint();
      }
      if (this.interrupted || (limit !== undefined && this.iteration < total && this.stopped === null)) {
        await this.checkpoint();
        progress.done();
        if (this.interrupted) this.opts.log(`stopped at iteration ${this.iteration}; continue with --resume`);
      }
    } catch (e) {
      // The log records why the run ended; the checkpoints on disk are the last good ones (the
      // engine refuses to save non-finite values, which is the GNAS_NONFINITE caught here).
      const code = (e as { code?: string }).code;
      const err = code === 'GNAS_NONFINITE' && !(e instanceof DivergenceError) ? new DivergenceError(`supernet training stopped at iteration ${this.iteration}: ${(e as Error).message}`) : e;
      if (err instanceof DivergenceError) this.runLog.write({ type: 'diverged', iteration: this.iteration, message: err.message });
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
    }
    if (this.lastCheckpoint === '') await this.checkpoint();
  }

  result(): SupernetResult {
    const { total } = this.schedule;
    const stoppedBy = this.stopped ?? (this.iteration >= total ? `epoch cap (${this.p.config.epochs} epochs)` : this.interrupted ? 'interrupted' : 'iteration limit of this process');
    if (this.iteration >= total || this.stopped !== null) this.opts.log(`supernet training finished: ${stoppedBy}, ${this.iteration} iterations`);
    return { net: this.net, history: this.history, eps: this.epsTrace, pool: this.samplers.pool, iterations: this.iteration, stoppedBy, checkpoint: this.lastCheckpoint, interrupted: this.interrupted };
  }
}

/** The arithmetic the rounds score in, as resolved by the engine (--score-math asks; the CPU decides). */
export function describeScoreMath(requested: SupernetTrainingSettings['scoreMath'], resolved: 'fp32' | 'bf16'): string {
  if (resolved === 'bf16') return 'bfloat16 products (AVX512-BF16)';
  if (requested === 'fp32') return 'FP32';
  return `FP32 (--score-math ${requested}: no fast bfloat16 on this backend)`;
}

function describeGreedyPlan(c: SupernetTrainingSettings, samplers: Samplers, schedule: Schedule, shape: ArchSpace, scoringImages: number, net: Supernet): string {
  const perOp = samplers.greedyWarmup / shape.numChoices;
  return `greedy: uniform warm-up for ${samplers.greedyWarmup} of ${schedule.total} iterations (~${perOp.toFixed(0)} updates per op), then rounds of m=${c.m}, k=${c.k} scored on ${scoringImages} held-out images in ${describeScoreMath(c.scoreMath, net.scoreMath)}; pool capacity ${samplers.pool!.capacity}; eps 0 -> ${c.epsMax}`;
}

export async function trainSupernet(p: Prepared<SupernetTrainingSettings>, opts: TrainOptions, latencyCheck?: (arch: readonly number[]) => boolean): Promise<SupernetResult> {
  const c = p.config;
  if (!opts.resume) {
    const markers = runMarkers(p.dir);
    if (markers.length > 0) throw new ConfigError(`${p.dir} already holds a run (${markers.join(', ')}): resume it, or train into another folder`);
  }
  const net = await createSupernet(p.space, c, c.seed);
  const shape = archSpaceOf(p.space);
  const loader = createLoader(p.train, {
    ...(p.data.pool ? { pool: p.data.pool } : {}),
    batchSize: c.batch,
    seed: c.seed,
    augment: defaultAugmentation(p.space.input, { flip: c.flip }),
    dropLast: true,
  });
  const perEpoch = loader.batchesPerEpoch;
  if (perEpoch < 1) throw new Error(`the training split has ${imageCount(p.train)} images, fewer than one batch of ${c.batch}`);
  const schedule: Schedule = { perEpoch, total: c.epochs * perEpoch, warmup: Math.round(c.warmupEpochs * perEpoch) };
  const samplers = createSamplers(c, shape, p.costs, constraintsOf(c, latencyCheck), perEpoch, schedule.total);
  const heldOut = new HeldOut(p, net, shape);
  // A batch or held-out set too large for this machine's memory is refused now, before the run
  // writes anything, not at the first step, greedy round or epoch end (hours in).
  const stepBytes = await checkTrainingMemory(net, p.space.input, c.batch, '--batch');
  // a path's step holds at most what the supernet's does per image (its largest op at every layer)
  if (opts.retrainBatch !== undefined) await checkTrainingMemory(net, p.space.input, opts.retrainBatch, '--retrain-batch');
  if (samplers.greedy) await checkScoringMemory(net, p.roundScoring, 'batch', stepBytes);
  await checkScoringMemory(net, p.searchSet, 'batch', stepBytes);
  if (samplers.greedy) opts.log(describeGreedyPlan(c, samplers, schedule, shape, heldOut.scoringImages, net));
  const trainer = new SupernetTrainer(p, opts, net, loader, samplers, heldOut, schedule);
  await trainer.start();
  await trainer.run();
  return trainer.result();
}
