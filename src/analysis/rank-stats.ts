// Rank statistics between a supernet's proxy scores and stand-alone ground truth (the measures
// of the paper's Table 3 and of docs/method.md "How the search is judged"): Kendall tau-b and
// Spearman rho with ties handled, Pearson r, precision of the top fraction, and the regret of
// the proxy's best path. Pure functions over arrays; both arrays are "higher is better" (callers
// negate losses), so a positive correlation means the proxy ranks like the truth.

function checkPair(x: readonly number[], y: readonly number[], what: string): void {
  if (x.length !== y.length) throw new RangeError(`${what}: the two series differ in length (${x.length} vs ${y.length})`);
  if (x.length < 2) throw new RangeError(`${what}: needs at least 2 paired values, got ${x.length}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) throw new RangeError(`${what}: value ${i} is not finite (${x[i]}, ${y[i]})`);
  }
}

/** Pearson correlation; NaN when either series is constant. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y, 'pearson');
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n, ties sharing the mean of the ranks they span ("average" / fractional ranking). */
export function averageRanks(v: readonly number[]): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const ranks = new Array<number>(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]!] === v[order[i]!]) j++;
    const mean = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]!] = mean;
    i = j + 1;
  }
  return ranks;
}

/** Spearman rho: Pearson correlation of the average ranks (exact with ties). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y, 'spearman');
  return pearson(averageRanks(x), averageRanks(y));
}

/**
 * Kendall tau-b: (concordant - discordant) / sqrt((n0 - n1) (n0 - n2)), where n0 = n(n-1)/2 and
 * n1, n2 count the pairs tied in x and in y. A pair tied in either series is neither concordant
 * nor discordant. O(n^2), fine for the ten thousand paths a `rank --all` run holds.
 */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y, 'kendall');
  const n = x.length;
  let s = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    const yi = y[i]!;
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(xi - x[j]!);
      const dy = Math.sign(yi - y[j]!);
      if (dx === 0) tiesX++;
      if (dy === 0) tiesY++;
      s += dx * dy;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - tiesX) * (n0 - tiesY));
  return denom === 0 ? Number.NaN : s / denom;
}

/** Indices of the best ceil(fraction * n) entries of `v` (higher is better; ties by lower index). */
export function topIndices(v: readonly number[], fraction: number): number[] {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`top fraction: expected a number in (0, 1], got ${fraction}`);
  const count = Math.max(1, Math.ceil(fraction * v.length));
  return v
    .map((_, i) => i)
    .sort((a, b) => v[b]! - v[a]! || a - b)
    .slice(0, count);
}

/** Share of the proxy's top fraction that is also in the truth's top fraction (precision@top-k). */
export function precisionAtTop(proxy: readonly number[], truth: readonly number[], fraction: number): number {
  checkPair(proxy, truth, 'precision@top');
  const a = topIndices(proxy, fraction);
  const b = new Set(topIndices(truth, fraction));
  return a.filter((i) => b.has(i)).length / a.length;
}

export interface RankReport {
  paths: number;
  kendallTau: number;
  spearman: number;
  pearson: number;
  /** precision@top for 5%, 10% and 20% of the paths. */
  precisionAtTop: { '5%': number; '10%': number; '20%': number };
  /** The proxy's best path, its truth, its rank by truth (1 = best) and the regret in truth units. */
  proxyBest: { index: number; truth: number; truthRank: number; regret: number };
  truthBest: number;
  truthMedian: number;
}

/** Every statistic above for one proxy against the truth (both higher-is-better). */
export function rankReport(proxy: readonly number[], truth: readonly number[]): RankReport {
  checkPair(proxy, truth, 'rank report');
  const best = topIndices(proxy, 1 / proxy.length)[0]!;
  const sortedTruth = [...truth].sort((a, b) => b - a);
  const t = truth[best]!;
  const n = truth.length;
  const median = n % 2 === 1 ? sortedTruth[(n - 1) / 2]! : (sortedTruth[n / 2 - 1]! + sortedTruth[n / 2]!) / 2;
  return {
    paths: n,
    kendallTau: kendallTau(proxy, truth),
    spearman: spearman(proxy, truth),
    pearson: pearson(proxy, truth),
    precisionAtTop: { '5%': precisionAtTop(proxy, truth, 0.05), '10%': precisionAtTop(proxy, truth, 0.1), '20%': precisionAtTop(proxy, truth, 0.2) },
    proxyBest: { index: best, truth: t, truthRank: 1 + sortedTruth.filter((v) => v > t).length, regret: sortedTruth[0]! - t },
    truthBest: sortedTruth[0]!,
    truthMedian: median,
  };
}
