// `rank`: scores a set of paths with a trained supernet and, given stand-alone ground truth, says
// how well the supernet ranks them (docs/method.md, "How the search is judged").
//   proxy      loss and accuracy of each path on `--search-images` held-out images (the part of
//              the split greedy rounds never scored on), BN as configured (--search-bn);
//   full       accuracy on the whole held-out split (the paper's Table 3 compares the 1k-image
//              loss proxy with accuracy on the 50k validation set);
//   round      loss on the images that scored greedy rounds (p.roundScoring): how far a ranking on
//              one fixed batch agrees with a ranking on another (batch agreement);
//   truth      stand-alone test accuracy from a truth file (`truth` makes one).
// Writes <out>/rank.json and, with truth, rank-scatter.svg/png.
import { join } from 'node:path';

import { rankReport, spearman, kendallTau, type RankReport } from '../analysis/rank-stats.js';
import type { TruthEntry } from '../analysis/truth-file.js';
import type { Supernet } from '../native/engine.js';
import { writeScatter } from '../report/plots.js';
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';
import { Progress } from '../util/progress.js';
import type { RunConfig } from './config.js';
import { scorer } from './engine-setup.js';
import { calibrationBatches, fixedSubset, type CalibrationSettings, type Prepared } from './prepare.js';

/** The settings `rank` reads: its proxy images and BN handling are the search's. */
export type RankSettings = CalibrationSettings & Pick<RunConfig, 'searchImages' | 'searchBn'>;

export interface RankedPath {
  key: string;
  arch: number[];
  /** Proxy: mean loss and accuracy on the proxy images. */
  loss: number;
  accuracy: number;
  /** Accuracy on the whole held-out split. */
  fullAccuracy: number;
  /** Loss on the greedy rounds' scoring images. */
  roundLoss: number;
  flops: number;
  params: number;
  /** Stand-alone accuracy (%) from the truth file, when given. */
  truth?: number;
}

export interface RankOutput {
  paths: RankedPath[];
  proxyImages: number;
  fullImages: number;
  bn: 'batch' | 'recalibrate';
  /** Against truth, with the proxy = -loss (the paper's proxy) and = accuracy. */
  byLoss?: RankReport;
  byAccuracy?: RankReport;
  /** Table 3 protocol: proxy loss vs accuracy on the whole held-out split (no truth needed). */
  table3: { spearman: number; kendallTau: number; byAccuracy: { spearman: number; kendallTau: number } };
  /** Kendall tau between the losses on the rounds' scoring images and on the proxy images (disjoint batches). */
  batchAgreement: { roundImages: number; kendallTau: number };
  /** With truth: the rounds' batch as the proxy (what greedy selection saw). */
  byRoundLoss?: RankReport;
}

/** Paths scored per engine call: big enough for shared prefixes, small enough for progress. */
const CHUNK = 64;

export async function rankPaths(p: Prepared<RankSettings>, net: Supernet, archs: Arch[], truth: TruthEntry[] | null, opts: { log: (l: string) => void; quiet?: boolean }): Promise<RankOutput> {
  const c = p.config;
  if (archs.length < 2) throw new RangeError(`rank: needs at least 2 paths, got ${archs.length}`);
  const proxyImages = fixedSubset(p.searchSet, c.searchImages, c.seed + 606);
  const full = p.val;
  const calib = c.searchBn === 'recalibrate' ? calibrationBatches(p) : null;
  const proxyScore = scorer(net, proxyImages, calib ? 'running' : 'batch');
  const fullScore = scorer(net, full, calib ? 'running' : 'batch');
  const roundScore = scorer(net, p.roundScoring, calib ? 'running' : 'batch');
  const progress = new Progress('rank', archs.length, 'paths', process.stderr, opts.quiet);
  const paths: RankedPath[] = [];
  for (let i = 0; i < archs.length; i += calib ? 1 : CHUNK) {
    const chunk = archs.slice(i, i + (calib ? 1 : CHUNK));
    if (calib) await net.calibrateBn(chunk[0]!, calib);
    const a = await proxyScore(chunk);
    const b = await fullScore(chunk);
    const d = await roundScore(chunk);
    chunk.forEach((arch, j) => {
      paths.push({ key: archKey(arch), arch: [...arch], loss: a[j]!.loss, accuracy: a[j]!.accuracy, fullAccuracy: b[j]!.accuracy, roundLoss: d[j]!.loss, flops: p.costs.archFlops(arch), params: p.costs.archParams(arch) });
    });
    progress.update(paths.length);
  }
  progress.done();
  for (const r of paths) {
    if (!Number.isFinite(r.loss)) throw new RangeError(`rank: path ${r.key} scored a non-finite loss (${r.loss}): the supernet's weights are not usable`);
  }
  const negLoss = paths.map((r) => -r.loss);
  const proxyAcc = paths.map((r) => r.accuracy);
  const fullAcc = paths.map((r) => r.fullAccuracy);
  const out: RankOutput = {
    paths,
    proxyImages: proxyImages.labels.length,
    fullImages: full.labels.length,
    bn: c.searchBn,
    table3: { spearman: spearman(negLoss, fullAcc), kendallTau: kendallTau(negLoss, fullAcc), byAccuracy: { spearman: spearman(proxyAcc, fullAcc), kendallTau: kendallTau(proxyAcc, fullAcc) } },
    batchAgreement: { roundImages: p.roundScoring.labels.length, kendallTau: kendallTau(paths.map((r) => r.roundLoss), paths.map((r) => r.loss)) },
  };
  if (truth) {
    const byKey = new Map(truth.map((t) => [t.key, t.accuracy]));
    const missing = paths.filter((r) => !byKey.has(r.key)).map((r) => r.key);
    if (missing.length > 0) throw new RangeError(`rank: ${missing.length} scored paths have no truth (first: ${missing[0]}); rank the truth file's own paths (omit --archs/--sample)`);
    for (const r of paths) r.truth = byKey.get(r.key)!;
    const t = paths.map((r) => r.truth!);
    out.byLoss = rankReport(negLoss, t);
    out.byAccuracy = rankReport(proxyAcc, t);
    out.byRoundLoss = rankReport(paths.map((r) => -r.roundLoss), t);
  }
  return out;
}

function fmt(x: number, d = 3): string {
  return Number.isFinite(x) ? x.toFixed(d) : 'n/a';
}

/** Lines for the terminal: the Table 3 figures and, with truth, the rank statistics. */
export function describeRank(r: RankOutput): string[] {
  const lines = [
    `ranked ${r.paths.length} paths: proxy = loss on ${r.proxyImages} held-out images (BN ${r.bn}), full = accuracy on all ${r.fullImages} held-out images`,
    `Table 3 protocol (proxy loss vs full held-out accuracy): Spearman ${fmt(r.table3.spearman)}, Kendall tau ${fmt(r.table3.kendallTau)}` +
      ` (proxy accuracy instead of loss: ${fmt(r.table3.byAccuracy.spearman)} / ${fmt(r.table3.byAccuracy.kendallTau)})`,
  ];
  lines.push(`batch agreement: Kendall tau ${fmt(r.batchAgreement.kendallTau)} between the losses on the ${r.batchAgreement.roundImages} round-scoring images and on the ${r.proxyImages} proxy images`);
  for (const [name, rep] of [['loss', r.byLoss], ['accuracy', r.byAccuracy], [`loss on the ${r.batchAgreement.roundImages} round-scoring images`, r.byRoundLoss]] as const) {
    if (!rep) continue;
    lines.push(
      `vs stand-alone truth, proxy ${name}: Kendall tau ${fmt(rep.kendallTau)}, Spearman ${fmt(rep.spearman)}, Pearson ${fmt(rep.pearson)}, ` +
        `precision@top 5% ${fmt(rep.precisionAtTop['5%'], 2)} 10% ${fmt(rep.precisionAtTop['10%'], 2)} 20% ${fmt(rep.precisionAtTop['20%'], 2)}; ` +
        `its best path: truth ${fmt(rep.proxyBest.truth, 2)}% (rank ${rep.proxyBest.truthRank} of ${rep.paths}, regret ${fmt(rep.proxyBest.regret, 2)} points; best ${fmt(rep.truthBest, 2)}%, median ${fmt(rep.truthMedian, 2)}%)`,
    );
  }
  return lines;
}

export async function writeRank(p: Prepared<unknown>, r: RankOutput, title: string): Promise<string[]> {
  writeJsonAtomic(join(p.dir, 'rank.json'), {
    space: p.space.name,
    proxy: { images: r.proxyImages, bn: r.bn, source: 'held-out split, the part greedy rounds never scored on' },
    full: { images: r.fullImages },
    table3: r.table3,
    batchAgreement: r.batchAgreement,
    byLoss: r.byLoss ?? null,
    byRoundLoss: r.byRoundLoss ?? null,
    byAccuracy: r.byAccuracy ?? null,
    paths: r.paths,
  });
  if (!r.byLoss) return [];
  return writeScatter(p.dir, 'rank-scatter', {
    title: 'Supernet proxy vs stand-alone accuracy',
    subtitle: [title, `${r.paths.length} paths; Kendall tau ${fmt(r.byLoss.kendallTau)}, Spearman ${fmt(r.byLoss.spearman)}, precision@top10% ${fmt(r.byLoss.precisionAtTop['10%'], 2)}`],
    xTitle: `Proxy: loss on ${r.proxyImages} held-out images (lower is better)`,
    yTitle: 'Stand-alone test accuracy (%)',
    points: r.paths.map((x) => ({ x: x.loss, y: x.truth!, series: 'path' })),
  });
}
