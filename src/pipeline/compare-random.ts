// Is the searched path better than chance? `run` retrains a few random paths of about the same
// FLOPs (within +-10% of the searched path's, and under the run's budget) with exactly the recipe
// that retrained the searched path, and reports the difference. Random paths are a seeded uniform
// sample of that FLOPs band, so the comparison is against what a user gets without any search.
import type { Arch } from '../space/types.js';
import { archKey } from '../space/types.js';
import { samplePaths } from './path-sets.js';
import { constraintsOf, type BudgetSettings } from './engine-setup.js';
import type { Prepared } from './prepare.js';
import { retrain, type RetrainSettings } from './retrain.js';

/** The settings of the comparison: the budget that bounds the random paths, and the retraining recipe. */
export type CompareRandomSettings = RetrainSettings & BudgetSettings;

export interface RetrainedPath {
  arch: string;
  flops: number;
  testAccuracy: number;
}

export interface RandomComparison {
  searched: RetrainedPath;
  /** The random paths of the same FLOPs band, retrained the same way. */
  random: RetrainedPath[];
  flopsBand: { min: number; max: number };
  randomMean: number;
  /** searched - mean of random, in accuracy points (x100). */
  marginPoints: number;
  /** Searched beats every random path. */
  beatsAll: boolean;
  /** Two standard errors of a test accuracy on this test set, in points: smaller margins are noise. */
  noisePoints: number;
  verdict: string;
}

/** Relative half-width of the FLOPs band the random paths come from. */
export const FLOPS_BAND = 0.1;

export async function compareWithRandom(p: Prepared<CompareRandomSettings>, searched: { arch: Arch; testAccuracy: number; testImages: number }, count: number, opts: { log: (l: string) => void; quiet?: boolean }): Promise<RandomComparison> {
  const f = p.costs.archFlops(searched.arch);
  const budget = constraintsOf(p.config);
  const max = Math.min(f * (1 + FLOPS_BAND), p.config.flopsMax ?? Infinity);
  const band = { min: f * (1 - FLOPS_BAND), max };
  const key = archKey(searched.arch);
  const candidates = samplePaths(p.costs, { ...budget, flops: band }, count + 1, p.config.seed + 1212).filter((a) => archKey(a) !== key).slice(0, count);
  const random: RetrainedPath[] = [];
  for (const [i, arch] of candidates.entries()) {
    opts.log(`random path ${i + 1}/${candidates.length} at the same FLOPs: retraining ${archKey(arch)} (${(p.costs.archFlops(arch) / 1e6).toFixed(2)}M FLOPs)`);
    const r = await retrain(p, arch, { log: opts.log, resume: false, quiet: opts.quiet, checkpoints: false });
    random.push({ arch: archKey(arch), flops: p.costs.archFlops(arch), testAccuracy: r.testAccuracy });
    await r.net.dispose();
  }
  const mean = random.reduce((a, r) => a + r.testAccuracy, 0) / Math.max(1, random.length);
  const margin = 100 * (searched.testAccuracy - mean);
  const beatsAll = random.every((r) => searched.testAccuracy > r.testAccuracy);
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  // Binomial standard error of one test accuracy; the margin compares one path with a mean.
  const noise = 200 * Math.sqrt((searched.testAccuracy * (1 - searched.testAccuracy)) / Math.max(1, searched.testImages));
  const within = Math.abs(margin) < noise ? ` (within noise: two standard errors of an accuracy on ${searched.testImages} test images are ${noise.toFixed(2)} points)` : '';
  const verdict =
    random.length === 0
      ? 'no random path of the same FLOPs band was found: no comparison'
      : margin > 0
        ? `the searched path (${pct(searched.testAccuracy)}) is better than random paths of the same FLOPs (mean ${pct(mean)} over ${random.length}) by ${margin.toFixed(2)} points${beatsAll ? ', and better than each of them' : ', but not better than each of them'}${within}`
        : `the searched path (${pct(searched.testAccuracy)}) is NOT better than random paths of the same FLOPs (mean ${pct(mean)} over ${random.length}; margin ${margin.toFixed(2)} points): on this run the search did not beat chance${within}`;
  return { searched: { arch: key, flops: f, testAccuracy: searched.testAccuracy }, random, flopsBand: band, randomMean: mean, marginPoints: margin, beatsAll, noisePoints: noise, verdict };
}
