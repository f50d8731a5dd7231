// What the stages after training start from: the run's trained supernet (its newest good
// checkpoint) and its candidate pool (pool.json, when the sampler kept one), and, with a latency
// budget, the space's latency table on this machine as a check on paths and a predictor.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Supernet } from '../native/engine.js';
import { latencyEstimator } from '../profile/latency-choice.js';
import { CandidatePool } from '../sampling/pool.js';
import { CheckpointStore } from '../train/checkpoints.js';
import { ConfigError, type RunConfig } from './config.js';
import { createSupernet, type EngineSettings } from './engine-setup.js';
import type { Prepared } from './prepare.js';
import { readJsonFile } from './run-dir.js';

export interface TrainedSupernet {
  net: Supernet;
  pool: CandidatePool | null;
}

/** Loads the run's supernet (refused when the run has none) and its pool; `warn` gets messages about other runs' files. */
export async function loadTrainedSupernet(p: Prepared<EngineSettings & Pick<RunConfig, 'seed' | 'out'>>, log: (line: string) => void, warn: (line: string) => void): Promise<TrainedSupernet> {
  const net = await createSupernet(p.space, p.config, p.config.seed);
  const loaded = await new CheckpointStore(p.dir, 'supernet', p.runId, warn).load(net, warn);
  if (!loaded) throw new ConfigError(`no supernet checkpoint of this run in ${join(p.dir, 'checkpoints')}: run \`train-supernet --out ${p.config.out}\` first`);
  log(`loaded supernet from ${loaded.info.file}`);
  let pool: CandidatePool | null = null;
  const poolFile = join(p.dir, 'pool.json');
  if (existsSync(poolFile)) {
    const fix = 'delete it (the search then starts from random paths) or rerun train-supernet';
    const json = readJsonFile(poolFile, fix);
    try {
      pool = CandidatePool.fromJSON(json, p.costs);
    } catch (e) {
      throw new ConfigError(`pool.json in ${p.dir}: ${(e as Error).message}: ${fix}`);
    }
  }
  return { net, pool };
}

export interface LatencyHooks {
  latencyCheck?: (arch: readonly number[]) => boolean;
  predictLatency?: (arch: readonly number[]) => number;
  /** Which estimate predicts latency and how it scored on held-out paths (for results.json). */
  latencyEstimate?: unknown;
}

/**
 * With --latency-max: the latency estimate that won on held-out paths of the space on this machine
 * (lookup table, FLOPs line or fitted model; measured once, cached), named in the log; without it,
 * none.
 */
export async function latencyHooks(p: Prepared<Pick<RunConfig, 'latencyMax'>>, log: (line: string) => void): Promise<LatencyHooks> {
  if (p.config.latencyMax === null) return {};
  log(`latency budget ${p.config.latencyMax} ms: loading (or measuring) the latency estimates of '${p.space.name}' on this machine`);
  const est = await latencyEstimator(p.space, { log });
  const s = est.choice.heldOut[est.method];
  log(`latency budget: predicted by the ${est.method} estimate (held-out Spearman ${s.spearman.toFixed(3)}, MAPE ${s.mape.toFixed(1)}%; ${est.choice.reason})`);
  return { latencyCheck: est.constraint(p.config.latencyMax), predictLatency: est.predictLatency, latencyEstimate: est.summary() };
}
