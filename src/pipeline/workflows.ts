// What each command of a run does, stage by stage: the checks that can refuse it (before anything
// is written), the run directory, prepare(), the stages in order, and what they leave in the run
// directory (results.json, arch.json, plots). The CLI (src/cli/main.ts) parses the command line
// into a configuration and these options, calls one of these, and prints what it returns.
import { join } from 'node:path';

import { readTruthFile, type TruthEntry } from '../analysis/truth-file.js';
import { archSpaceOf } from '../space/arch.js';
import { archKey } from '../space/types.js';
import { compareWithRandom } from './compare-random.js';
import type { RunConfig } from './config.js';
import { exportStage } from './export.js';
import { archLines, resultsFile, retrainSummary, searchSummary, supernetSummary, writeRetrainOutputs } from './outputs.js';
import { checkPathChoice, choosePaths, type PathChoice } from './path-sets.js';
import { chosenArchOf, requireOnnxRuntime, requireSupernetCheckpoint } from './preflight.js';
import { prepare, type Prepared } from './prepare.js';
import { rankPaths, writeRank, type RankOutput } from './rank.js';
import { writeReport } from './report.js';
import { retrain } from './retrain.js';
import { Interrupted, openRunDirectory } from './run-dir.js';
import { runSearch } from './search.js';
import { latencyHooks, loadTrainedSupernet, type LatencyHooks } from './trained-supernet.js';
import { trainSupernet, type SupernetResult } from './train-supernet.js';
import { groundTruth, truthFile } from './truth.js';

export interface WorkflowOptions {
  /** Progress lines of the run (the CLI stamps them with the time of day). */
  log: (line: string) => void;
  /** Warnings (files of another run beside this one's checkpoints). */
  warn: (line: string) => void;
  /** No progress bar. */
  quiet: boolean;
}

/** Commands that write a run: continue it (--resume), set an old one aside (--force), accept changed settings (--allow-change). */
export interface WriterOptions extends WorkflowOptions {
  resume: boolean;
  force: boolean;
  allowChange: boolean;
}

/** Before prepare() of a command that writes a run: claim --out, or check the --resume (a refused command changes nothing). */
function openRun(config: RunConfig, o: WriterOptions): void {
  openRunDirectory(config, { resume: o.resume, force: o.force, allowChange: o.allowChange, log: o.log });
}

/** The batch sizes a command draws, for prepare() to check before it writes anything. */
const supernetBatch = (c: RunConfig) => ({ flag: '--batch', size: c.batch, on: 'split' as const });
const retrainBatch = (c: RunConfig, on: 'split' | 'all') => ({ flag: '--retrain-batch', size: c.retrainBatch, on });

/** The latency hooks of a --latency-max budget; which estimate predicts latency goes into results.json. */
async function recordedLatencyHooks(p: Prepared, log: (line: string) => void): Promise<LatencyHooks> {
  const hooks = await latencyHooks(p, log);
  if (hooks.latencyEstimate !== undefined) resultsFile(p, { latencyEstimate: hooks.latencyEstimate });
  return hooks;
}

/** Checks before anything is written: the optional onnxruntime-node when a budget in ms needs the latency table. */
async function latencyPreflight(config: RunConfig): Promise<void> {
  if (config.latencyMax !== null) await requireOnnxRuntime(`--latency-max ${config.latencyMax} (the latency table)`);
}

async function trainStage(p: Prepared, o: WriterOptions, hooks: LatencyHooks, retrainBatch?: number): Promise<SupernetResult> {
  return trainSupernet(p, { resume: o.resume, log: o.log, quiet: o.quiet, ...(retrainBatch !== undefined ? { retrainBatch } : {}) }, hooks.latencyCheck);
}

function interrupted(name: string, p: Prepared, r: SupernetResult): Interrupted {
  return new Interrupted(`interrupted: stopped after the checkpoint at iteration ${r.iterations}; continue with \`${name} --resume --out ${p.config.out}\``);
}

/** `train-supernet` */
export async function trainSupernetWorkflow(config: RunConfig, o: WriterOptions): Promise<void> {
  await latencyPreflight(config);
  openRun(config, o);
  const p = await prepare(config, { log: o.log, batches: [supernetBatch(config)] });
  const r = await trainStage(p, o, await recordedLatencyHooks(p, o.log));
  if (r.interrupted) throw interrupted('train-supernet', p, r);
  resultsFile(p, { supernet: supernetSummary(r) });
  await writeReport(p, { supernet: r });
}

/** `search` */
export async function searchWorkflow(config: RunConfig, o: WorkflowOptions): Promise<void> {
  await latencyPreflight(config);
  requireSupernetCheckpoint(config);
  const p = await prepare(config, { log: o.log });
  const { net, pool } = await loadTrainedSupernet(p, o.log, o.warn);
  const s = await runSearch(p, net, pool, { log: o.log, quiet: o.quiet, ...(await recordedLatencyHooks(p, o.log)) });
  resultsFile(p, { search: searchSummary(s, p.space) });
  await writeReport(p, { search: s, pool });
  const best = s.best[0];
  if (best) o.log(`best path ${best.key} (written to ${join(p.dir, 'arch.json')}):\n${archLines(p.space, best.arch).join('\n')}`);
}

/** `retrain`: `arch` is --arch (a key or an arch.json file; default: the best of search.json). */
export async function retrainWorkflow(config: RunConfig, o: WorkflowOptions & { resume: boolean; arch?: string | undefined }): Promise<void> {
  const arch = chosenArchOf(config, o.arch);
  const p = await prepare(config, { log: o.log, batches: [retrainBatch(config, 'all')] });
  o.log(`retraining ${archKey(arch)}:\n${archLines(p.space, arch).join('\n')}`);
  const r = await retrain(p, arch, { log: o.log, resume: o.resume, quiet: o.quiet });
  writeRetrainOutputs(p, r);
  resultsFile(p, { retrain: retrainSummary(r, p.space) });
  await writeReport(p, { retrain: r });
}

/** `run`: every stage in order, then the comparison with random paths and the export. */
export async function runWorkflow(config: RunConfig, o: WriterOptions): Promise<void> {
  const started = Date.now();
  if (config.export) await requireOnnxRuntime('`run` (its last stage: ONNX parity and latency profile; skip that stage with --no-export)');
  await latencyPreflight(config);
  openRun(config, o);
  const p = await prepare(config, { log: o.log, batches: [supernetBatch(config), retrainBatch(config, 'all')] });
  const hooks = await recordedLatencyHooks(p, o.log);
  o.log(`\n== 1/4 supernet training (${config.sampler})`);
  const trained = await trainStage(p, o, hooks, config.retrainBatch);
  if (trained.interrupted) throw interrupted('run', p, trained);
  resultsFile(p, { supernet: supernetSummary(trained) });
  o.log('\n== 2/4 search');
  const s = await runSearch(p, trained.net, trained.pool, { log: o.log, quiet: o.quiet, ...hooks });
  resultsFile(p, { search: searchSummary(s, p.space) });
  const best = s.best[0];
  if (!best) throw new Error('the search found no path under the constraints');
  o.log(`\n== 3/4 retraining ${best.key}:\n${archLines(p.space, best.arch).join('\n')}`);
  const r = await retrain(p, best.arch, { log: o.log, resume: o.resume, quiet: o.quiet });
  writeRetrainOutputs(p, r);
  resultsFile(p, { retrain: retrainSummary(r, p.space) });
  let verdict = '';
  if (config.compareRandom > 0) {
    o.log(`\n== against chance: ${config.compareRandom} random paths of the same FLOPs, retrained the same way`);
    const cmp = await compareWithRandom(p, r, config.compareRandom, { log: o.log, quiet: o.quiet });
    resultsFile(p, { comparison: cmp });
    verdict = cmp.verdict;
    o.log(verdict);
  }
  if (config.export) {
    o.log('\n== 4/4 export, parity and latency');
    const exported = await exportStage(p, r, { log: o.log });
    resultsFile(p, { export: exported });
  }
  await writeReport(p, { supernet: trained, search: s, pool: trained.pool, retrain: r });
  const seconds = (Date.now() - started) / 1000;
  resultsFile(p, { seconds });
  o.log(`\ndone in ${seconds.toFixed(0)} s: ${best.key} (${((best.flops ?? 0) / 1e6).toFixed(2)}M FLOPs) test accuracy ${(100 * r.testAccuracy).toFixed(2)}%; outputs in ${p.dir}`);
  if (verdict) o.log(verdict);
}

/** `truth`: stand-alone ground truth of the paths of `choice` (--truth-seeds trainings each). */
export async function truthWorkflow(config: RunConfig, o: WriterOptions & { paths: PathChoice; seeds: number }): Promise<void> {
  checkPathChoice(o.paths);
  openRun(config, o);
  const p = await prepare(config, { log: o.log, batches: [retrainBatch(config, 'split')] });
  const archs = choosePaths(p, o.paths);
  const truth = await groundTruth(p, archs, { log: o.log, quiet: o.quiet, seeds: o.seeds });
  o.log(`ground truth of ${Object.keys(truth).length} paths in ${truthFile(p.dir)}`);
}

/** `rank`: scores the paths of `choice` (or the truth file's own) with the run's supernet; the caller prints the result, then writes it with writeRankFiles(). */
export async function rankWorkflow(config: RunConfig, o: WorkflowOptions & { paths: PathChoice; truth?: string | undefined }): Promise<{ p: Prepared; result: RankOutput }> {
  checkPathChoice(o.paths);
  requireSupernetCheckpoint(config);
  const p = await prepare(config, { log: o.log });
  const truth: TruthEntry[] | null = o.truth !== undefined ? readTruthFile(o.truth, archSpaceOf(p.space)) : null;
  const archs = choosePaths(p, o.paths, truth?.map((t) => t.arch));
  const { net } = await loadTrainedSupernet(p, o.log, o.warn);
  return { p, result: await rankPaths(p, net, archs, truth, { log: o.log, quiet: o.quiet }) };
}

/** rank.json and, with truth, the scatter plot; logs what it wrote. */
export async function writeRankFiles(p: Prepared, r: RankOutput, log: (line: string) => void): Promise<void> {
  const files = await writeRank(p, r, `${p.config.sampler} supernet, ${p.space.name} space`);
  log(`wrote ${join(p.dir, 'rank.json')}${files.length > 0 ? ` and ${files.filter((f) => f.endsWith('.png')).join(', ')}` : ''}`);
}

/** `export`: a path of the trained supernet (--arch, default the best of search.json) to ONNX, with parity and latency. */
export async function exportWorkflow(config: RunConfig, o: WorkflowOptions & { arch?: string | undefined }): Promise<void> {
  await requireOnnxRuntime('`export` (the parity check and latency profile of the exported model)');
  const arch = chosenArchOf(config, o.arch);
  requireSupernetCheckpoint(config);
  const p = await prepare(config, { log: o.log });
  const { net } = await loadTrainedSupernet(p, o.log, o.warn);
  const out = await exportStage(p, { arch, net, space: p.space, epochs: [], testAccuracy: Number.NaN, testLoss: Number.NaN, testImages: 0 }, { log: o.log, supernetArch: true });
  resultsFile(p, { export: out });
}
