// Plots of a run directory (training curves, eps and pool turnover, the pool's score histogram,
// pool-seeded vs randomly seeded search: the paper's Figure 3), from the stages' results.
import type { CandidatePool } from '../sampling/pool.js';
import { writePlots, type ReportData } from '../report/plots.js';
import type { Prepared } from '../train/prepare.js';
import type { SearchOutput } from '../train/search-stage.js';
import type { SupernetResult } from '../train/train-supernet.js';

export async function writeReport(p: Prepared, parts: { supernet?: SupernetResult; search?: SearchOutput; pool?: CandidatePool | null }): Promise<string[]> {
  const c = p.config;
  const data: ReportData = { title: `${c.sampler} sampler, ${p.space.name} space, ${c.data}` };
  const s = parts.supernet;
  if (s && s.history.length > 0) {
    data.epochs = s.history.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainAccuracy: e.trainAccuracy, valLoss: e.poolBestLoss ?? e.probeLoss, valAccuracy: e.poolBestAccuracy ?? e.probeAccuracy }));
    if (s.eps.length > 0) data.eps = s.eps;
    const turnover = s.history.filter((e) => e.pi !== undefined).map((e) => ({ epoch: e.epoch, pi: e.pi!, alpha: c.alpha }));
    if (turnover.length > 0) data.turnover = turnover;
  }
  const pool = parts.pool ?? s?.pool ?? null;
  if (pool && pool.size > 0) data.poolScores = pool.entries().map((e) => e.score);
  for (const run of parts.search?.runs ?? []) {
    const points = run.result.history.map((g) => ({ generation: g.generation, bestAccuracy: g.best.accuracy, bestLoss: g.best.loss }));
    if (run.init === 'pool') data.searchPool = points;
    else data.searchRandom = points;
  }
  return writePlots(p.dir, data);
}
