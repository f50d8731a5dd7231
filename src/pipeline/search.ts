// The search stage: evolutionary (or random) search over paths of the trained supernet under the
// FLOPs / parameter / latency constraints, every candidate scored on the same held-out images
// (docs/method.md, "Search"): the part of the held-out split that greedy rounds never scored on
// (p.searchSet), so the pool's paths have no head start from having been selected on them.
// GreedyNAS seeds the first population from the pool: the whole pool is re-scored once with the
// search's scorer (pool scores are training-time losses of a supernet that kept changing) and
// offered in that order, so invalid or duplicate seeds are replaced by the next pool path, not by
// random ones. The randomly seeded run of the same budget is the paper's Figure 3 comparison.
// Outputs: search.json (every run's top paths with their op names, and per generation both the
// generation's own best and the best so far) and arch.json (the best path, layer by layer:
// src/space/arch-file.ts), which `retrain --arch` and `export --arch` take back.
import { join } from 'node:path';

import type { Supernet } from '../native/engine.js';
import type { CandidatePool } from '../sampling/pool.js';
import type { CandidateScorer, EvaluatedPath, GenerationRecord, SearchResult } from '../search/common.js';
import { EvolutionSearch } from '../search/evolution.js';
import { RandomSearch } from '../search/random.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { archOps, writeArchFile } from '../space/arch-file.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { Progress } from '../util/progress.js';
import { RunLog } from '../train/run-log.js';
import type { RunConfig } from './config.js';
import { constraintsOf, scorer, type BudgetSettings } from './engine-setup.js';
import { calibrationBatches, fixedSubset, type CalibrationSettings, type Prepared } from './prepare.js';

/** The run's chosen architecture, layer by layer (written by search, then by retrain). */
export const ARCH_JSON = 'arch.json';

/** The settings the search reads. */
export type SearchSettings = BudgetSettings &
  CalibrationSettings &
  Pick<RunConfig, 'latencyMax' | 'searcher' | 'population' | 'generations' | 'searchImages' | 'searchInit' | 'compareInit' | 'searchBn'>;

export interface SearchRun {
  init: 'pool' | 'random';
  result: SearchResult;
}

export interface SearchOutput {
  runs: SearchRun[];
  /** The best paths of the main run (the configured initialisation), best first. */
  best: EvaluatedPath[];
}

export interface SearchStageOptions {
  log: (line: string) => void;
  quiet?: boolean;
  latencyCheck?: (arch: readonly number[]) => boolean;
  /** Predicted latency (ms) of a path, reported beside each result when a table exists. */
  predictLatency?: (arch: readonly number[]) => number;
}

/** A scorer per the config's BN handling: batch statistics, or SPOS recalibration per candidate. */
function candidateScorer(p: Prepared<SearchSettings>, net: Supernet): CandidateScorer {
  const c = p.config;
  const images = fixedSubset(p.searchSet, c.searchImages, c.seed + 606);
  if (c.searchBn === 'batch') return scorer(net, images, 'batch');
  const batches = calibrationBatches(p);
  return async (archs: Arch[]) => {
    const out: Array<{ loss: number; accuracy: number }> = [];
    for (const a of archs) {
      await net.calibrateBn(a, batches);
      out.push(...(await scorer(net, images, 'running')([a])));
    }
    return out;
  };
}

export async function runSearch(p: Prepared<SearchSettings>, net: Supernet, pool: CandidatePool | null, opts: SearchStageOptions): Promise<SearchOutput> {
  const c = p.config;
  const score = candidateScorer(p, net);
  const constraints = constraintsOf(c, opts.latencyCheck);
  const log = new RunLog(join(p.dir, 'log.jsonl'));
  const inits: Array<'pool' | 'random'> = [c.searchInit];
  if (c.compareInit && pool && pool.size > 0) inits.push(c.searchInit === 'pool' ? 'random' : 'pool');
  if (c.searchInit === 'pool' && (!pool || pool.size === 0)) {
    opts.log('search: no candidate pool (baseline sampler or empty pool): the first population is random');
  }
  // One cache for both runs: a path's score on the fixed search images does not change.
  const searchImages = Math.min(c.searchImages, p.searchSet.labels.length);
  const cache = new Map<string, { loss: number; accuracy: number }>();
  const cached = async (archs: Arch[]) => {
    const todo = archs.filter((a) => !cache.has(archKey(a)));
    if (todo.length > 0) (await score(todo)).forEach((s, i) => cache.set(archKey(todo[i]!), s));
    return archs.map((a) => cache.get(archKey(a))!);
  };
  let poolSeeds: number[][] = [];
  if (inits.includes('pool') && pool && pool.size > 0) {
    const entries = pool.entries().map((e) => [...e.arch]);
    const rescored = await cached(entries);
    const order = entries.map((_, i) => i).sort((a, b) => rescored[b]!.accuracy - rescored[a]!.accuracy || rescored[a]!.loss - rescored[b]!.loss);
    poolSeeds = order.map((i) => entries[i]!);
    opts.log(`search: re-scored the ${entries.length} pool paths on ${searchImages} search images; best ${(100 * rescored[order[0]!]!.accuracy).toFixed(2)}%`);
  }
  const runs: SearchRun[] = [];
  for (const init of inits) {
    const base = { space: p.costs, costs: p.costs, seed: c.seed + 808, constraints, population: c.population, generations: c.generations };
    const seeds = init === 'pool' ? poolSeeds : [];
    const search = c.searcher === 'evolution' ? new EvolutionSearch({ ...base, init: seeds }) : new RandomSearch(base);
    const progress = new Progress(`search (${c.searcher}, ${init}-seeded)`, c.generations, 'gen', process.stderr, opts.quiet);
    const result = await search.run(cached, (g: GenerationRecord) => {
      log.write({ type: 'generation', init, ...g });
      progress.update(g.generation + 1, `best acc ${(100 * g.best.accuracy).toFixed(2)}%`);
    });
    progress.done();
    const best = result.top[0];
    opts.log(
      `search (${init}-seeded): ${result.evaluated} paths scored` +
        (best ? `, best ${best.key} acc ${(100 * best.accuracy).toFixed(2)}% loss ${best.loss.toFixed(4)} FLOPs ${((best.flops ?? 0) / 1e6).toFixed(2)}M` : '') +
        (result.stoppedEarly ? ` (stopped early: ${result.stoppedEarly})` : ''),
    );
    runs.push({ init, result });
  }
  const main = runs[0]!.result;
  const withLatency = (e: EvaluatedPath) => ({ ...e, ops: archOps(p.space, e.arch), ...(opts.predictLatency ? { predictedLatencyMs: opts.predictLatency(e.arch) } : {}) });
  writeJsonAtomic(join(p.dir, 'search.json'), {
    searcher: c.searcher,
    constraints: { flopsMax: c.flopsMax, paramsMax: c.paramsMax, latencyMax: c.latencyMax },
    scoring: { images: searchImages, bn: c.searchBn, source: 'held-out validation split, the part greedy rounds never scored on (never the test set)' },
    poolRescored: poolSeeds.length,
    runs: runs.map((r) => ({
      init: r.init,
      evaluated: r.result.evaluated,
      stoppedEarly: r.result.stoppedEarly,
      top: r.result.top.map(withLatency),
      // bestAccuracy: best so far (what the search returns); generationBestAccuracy: that generation's own best.
      generations: r.result.history.map((g) => ({
        generation: g.generation,
        bestAccuracy: g.best.accuracy,
        bestLoss: g.best.loss,
        generationBestAccuracy: g.generationBest.accuracy,
        generationBestLoss: g.generationBest.loss,
        sources: g.sources,
      })),
    })),
  });
  const best = main.top[0];
  if (best) {
    writeArchFile(join(p.dir, ARCH_JSON), p.space, best.arch, {
      source: `search: best of the ${runs[0]!.init}-seeded ${c.searcher} search, scored on ${searchImages} held-out images`,
      heldOutAccuracy: best.accuracy,
      heldOutLoss: best.loss,
      ...(opts.predictLatency ? { predictedLatencyMs: opts.predictLatency(best.arch) } : {}),
    });
  }
  return { runs, best: main.top };
}
