// Distribution of FLOPs over all paths of a space, by dynamic programming over a histogram.
//
// The share of paths whose FLOPs fall in a range cannot be counted path by path (7^21 paths),
// but FLOPs are a sum over layers, so the distribution of the sum is the convolution of the
// per-layer distributions (each choice has probability 1/C under uniform sampling). FLOPs are
// integers; each layer's FLOPs above its cheapest choice is cut into buckets of an integer width
// w, so the quantised sum Q undercounts the true sum by at most L * (w - 1). Every share this
// module returns is therefore a rigorous bracket [lower, upper] around the exact share (equal
// when w = 1), not a Monte Carlo estimate. Probabilities are float64 (relative rounding ~1e-15).
import type { CostTable } from './cost.js';

export interface ShareBracket {
  /** The exact share of paths is in [lower, upper]. */
  lower: number;
  upper: number;
  /** Histogram bucket width in multiply-adds (1 means the bracket is exact up to rounding). */
  bucketWidth: number;
}

export interface FlopsRange {
  min?: number;
  max?: number;
}

export class FlopsHistogram {
  /** Bucket width in multiply-adds (integer >= 1). */
  readonly bucketWidth: number;
  /** FLOPs of the cheapest path; bucket q starts at minFlops + q * bucketWidth. */
  readonly minFlops: number;
  readonly maxFlops: number;
  /** probability[q]: share of paths whose quantised FLOPs above minFlops is q buckets. */
  readonly probability: Float64Array;
  /** Largest undercount of the quantised sum, L * (w - 1). */
  readonly slack: number;
  /** Exact mean FLOPs of a uniform path. */
  readonly meanFlops: number;

  /** `buckets`: target number of buckets over the FLOPs range (default 131072). */
  constructor(costs: CostTable, buckets = 1 << 17) {
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets: expected a positive integer, got ${buckets}`);
    const rows = costs.flops.map((row) => {
      const lo = Math.min(...row);
      return row.map((f) => f - lo);
    });
    const range = costs.maxFlops - costs.minFlops;
    const w = Math.max(1, Math.ceil(range / buckets));
    this.bucketWidth = w;
    this.minFlops = costs.minFlops;
    this.maxFlops = costs.maxFlops;
    this.slack = costs.numLayers * (w - 1);
    const quant = rows.map((row) => row.map((v) => (v - (v % w)) / w));
    const maxQ = quant.reduce((a, row) => a + Math.max(...row), 0);
    let dist = new Float64Array(maxQ + 1);
    dist[0] = 1;
    let reach = 0;
    for (const row of quant) {
      const next = new Float64Array(maxQ + 1);
      const p = 1 / row.length;
      for (const q of row) {
        for (let s = 0; s <= reach; s++) {
          const v = dist[s] as number;
          if (v !== 0) next[s + q] = (next[s + q] as number) + v * p;
        }
      }
      reach += Math.max(...row);
      dist = next;
    }
    this.probability = dist;
    this.meanFlops = costs.fixed.total.flops + costs.flops.reduce((a, row) => a + row.reduce((x, y) => x + y, 0) / row.length, 0);
  }

  /** Share of q in [qa, qb] (integers, clamped). */
  private mass(qa: number, qb: number): number {
    const a = Math.max(0, Math.ceil(qa));
    const b = Math.min(this.probability.length - 1, Math.floor(qb));
    let s = 0;
    for (let q = a; q <= b; q++) s += this.probability[q] as number;
    return Math.min(1, s);
  }

  /** Bracket of the share of paths with min <= FLOPs <= max (either bound optional). */
  share(range: FlopsRange): ShareBracket {
    const lo = (range.min ?? -Infinity) - this.minFlops;
    const hi = (range.max ?? Infinity) - this.minFlops;
    const w = this.bucketWidth;
    if (hi < lo) return { lower: 0, upper: 0, bucketWidth: w };
    // True excess V lies in [w*Q, w*Q + slack]. Surely inside: w*Q >= lo and w*Q + slack <= hi.
    // Possibly inside: w*Q <= hi and w*Q + slack >= lo.
    const lower = this.mass(lo / w, (hi - this.slack) / w);
    const upper = this.mass((lo - this.slack) / w, hi / w);
    return { lower, upper, bucketWidth: w };
  }

  /** Approximate FLOPs below which a share p of paths lies (within slack + bucketWidth). */
  quantile(p: number): number {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: expected p in [0, 1], got ${p}`);
    let c = 0;
    for (let q = 0; q < this.probability.length; q++) {
      c += this.probability[q] as number;
      if (c >= p - 1e-12) return Math.min(this.maxFlops, this.minFlops + q * this.bucketWidth + Math.floor(this.slack / 2));
    }
    return this.maxFlops;
  }

  /** Coarse histogram of `bins` equal-width bins over [minFlops, maxFlops] (approximate edges). */
  coarse(bins: number): Array<{ from: number; to: number; share: number }> {
    const span = Math.max(1, this.maxFlops - this.minFlops);
    const out = Array.from({ length: bins }, (_, i) => ({ from: this.minFlops + (span * i) / bins, to: this.minFlops + (span * (i + 1)) / bins, share: 0 }));
    for (let q = 0; q < this.probability.length; q++) {
      const v = this.probability[q] as number;
      if (v === 0) continue;
      const mid = q * this.bucketWidth + this.slack / 2;
      const b = Math.min(bins - 1, Math.floor((mid / span) * bins));
      (out[b] as { share: number }).share += v;
    }
    return out;
  }
}

const cache = new WeakMap<CostTable, FlopsHistogram>();

/** The FLOPs histogram of a cost table with the default bucket count, cached. */
export function flopsHistogram(costs: CostTable): FlopsHistogram {
  let h = cache.get(costs);
  if (h === undefined) {
    h = new FlopsHistogram(costs);
    cache.set(costs, h);
  }
  return h;
}
