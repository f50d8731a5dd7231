// Plots of a run directory (training curves with the early stop marked, eps and pool turnover,
// the pool's score histogram, pool-seeded vs randomly seeded search: the paper's Figure 3, and the
// retraining curve), from the stages' results. Each series is named for what it measures
// (src/report/plots.ts): the training batches, the random probe paths on held-out images, the
// pool's best path on held-out images; nothing is called "validation".
import type { CandidatePool } from '../sampling/pool.js';
import { writePlots, type ReportData } from '../report/plots.js';
import { archOps } from '../space/arch-file.js';
import { archKey } from '../space/types.js';
import type { RunConfig } from './config.js';
import type { Prepared } from './prepare.js';
import type { RetrainResult } from './retrain.js';
import type { SearchOutput } from './search.js';
import type { SupernetResult } from './train-supernet.js';

/** The epoch after which the stopping rule ended training, from SupernetResult.stoppedBy; undefined when it ran to its cap. */
export function earlyStopEpoch(stoppedBy: string): number | undefined {
  const m = /^pool turnover .* after epoch (\d+)$/.exec(stoppedBy);
  return m ? Number(m[1]) : undefined;
}

/** The settings the plots name in their titles and notes. */
export type ReportSettings = Pick<RunConfig, 'sampler' | 'data' | 'labelSmoothing' | 'epochs' | 'alpha' | 'searcher' | 'searchImages' | 'generations' | 'population'>;

export async function writeReport(p: Prepared<ReportSettings>, parts: { supernet?: SupernetResult; search?: SearchOutput; pool?: CandidatePool | null; retrain?: RetrainResult }): Promise<string[]> {
  const c = p.config;
  const data: ReportData = { title: `${c.sampler} sampler, ${p.space.name} space, ${c.data}` };
  // The engine's training loss carries the label smoothing; held-out and test losses are plain cross-entropy.
  if (c.labelSmoothing > 0) data.lossNote = `train loss with label smoothing ${c.labelSmoothing}; held-out and test loss without`;
  const s = parts.supernet;
  if (s && s.history.length > 0) {
    data.epochs = s.history.map((e) => ({
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      trainAccuracy: e.trainAccuracy,
      probeLoss: e.probeLoss,
      probeAccuracy: e.probeAccuracy,
      ...(e.poolBestAccuracy !== undefined ? { poolBestLoss: e.poolBestLoss, poolBestAccuracy: e.poolBestAccuracy } : {}),
    }));
    const stop = earlyStopEpoch(s.stoppedBy);
    if (stop !== undefined && stop < c.epochs) data.earlyStop = { epoch: stop, label: `stopping rule (π ≤ α = ${c.alpha}) after epoch ${stop} of ${c.epochs}` };
    if (s.eps.length > 0) data.eps = s.eps;
    const turnover = s.history.filter((e) => e.pi !== undefined).map((e) => ({ epoch: e.epoch, pi: e.pi!, alpha: c.alpha }));
    if (turnover.length > 0) data.turnover = turnover;
  }
  const pool = parts.pool ?? s?.pool ?? null;
  if (pool && pool.size > 0) data.poolScores = pool.entries().map((e) => e.score);
  for (const run of parts.search?.runs ?? []) {
    const points = run.result.history.map((g) => ({ generation: g.generation, bestAccuracy: g.best.accuracy, generationBestAccuracy: g.generationBest.accuracy, bestLoss: g.best.loss }));
    if (run.init === 'pool') data.searchPool = points;
    else data.searchRandom = points;
  }
  if (parts.search) {
    const images = Math.min(c.searchImages, p.searchSet.labels.length);
    data.searchNote = [`budget per run: ${c.generations} generations x ${c.population} paths (${c.searcher})`, `every path scored on the same ${images} held-out images`];
  }
  const r = parts.retrain;
  if (r && r.epochs.length > 0) {
    data.retrain = r.epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainAccuracy: e.trainAccuracy }));
    data.retrainNote = [`path ${archKey(r.arch)}: ${archOps(p.space, r.arch).join(' ')}`];
    data.retrainTest = { accuracy: r.testAccuracy, loss: r.testLoss, images: r.testImages };
  }
  return writePlots(p.dir, data);
}
