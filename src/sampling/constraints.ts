// Constraints on paths, shared by the samplers and the searchers: a FLOPs range and a parameter
// range (looked up in the space's cost table) and a generic predicate `(arch) => boolean`, the
// hook where a latency predictor or a measured-latency table plugs in. A checker reports why a
// path was rejected, so that a search that cannot find valid paths says which constraint bites.
import type { CostTable } from '../space/cost.js';
import { formatCount } from '../space/cost.js';

export interface Range {
  min?: number;
  max?: number;
}

export type ArchPredicate = (arch: readonly number[]) => boolean;

export interface Constraints {
  /** FLOPs (multiply-adds) budget: a maximum, or a range. Needs a cost table. */
  flops?: number | Range;
  /** Parameter budget: a maximum, or a range. Needs a cost table. */
  params?: number | Range;
  /** Any other constraint, e.g. predicted latency <= budget. */
  check?: ArchPredicate;
}

export type RejectReason = 'flops' | 'params' | 'check';

export class ConstraintError extends Error {
  constructor(
    /** INFEASIBLE: no path can meet the constraints; TOO_TIGHT: rejection sampling would rarely
     *  succeed; TRIES_EXHAUSTED: the cap on tries was reached. */
    readonly code: 'INFEASIBLE' | 'TOO_TIGHT' | 'TRIES_EXHAUSTED',
    message: string,
  ) {
    super(message);
    this.name = 'ConstraintError';
  }
}

export function toRange(v: number | Range | undefined, field: string): Range | undefined {
  if (v === undefined) return undefined;
  const r: Range = typeof v === 'number' ? { max: v } : { ...v };
  for (const k of ['min', 'max'] as const) {
    const x = r[k];
    if (x !== undefined && (typeof x !== 'number' || Number.isNaN(x))) throw new RangeError(`${field}.${k}: expected a number, got ${String(x)}`);
  }
  if (r.min !== undefined && r.max !== undefined && r.min > r.max) throw new ConstraintError('INFEASIBLE', `${field}: min ${r.min} is above max ${r.max}`);
  return r;
}

const inRange = (v: number, r: Range | undefined): boolean => r === undefined || ((r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max));

export function formatRange(r: Range): string {
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`>= ${formatCount(r.min, 2)}`);
  if (r.max !== undefined) parts.push(`<= ${formatCount(r.max, 2)}`);
  return parts.join(' and ');
}

export class ConstraintChecker {
  readonly flops: Range | undefined;
  readonly params: Range | undefined;
  readonly check: ArchPredicate | undefined;
  /** Rejections by reason since construction (diagnostics). */
  readonly rejected: Record<RejectReason, number> = { flops: 0, params: 0, check: 0 };

  constructor(
    constraints: Constraints = {},
    readonly costs?: CostTable,
  ) {
    this.flops = toRange(constraints.flops, 'constraints.flops');
    this.params = toRange(constraints.params, 'constraints.params');
    if (constraints.check !== undefined && typeof constraints.check !== 'function') throw new TypeError('constraints.check: expected a function (arch) => boolean');
    this.check = constraints.check;
    if ((this.flops !== undefined || this.params !== undefined) && costs === undefined) {
      throw new TypeError('constraints: a FLOPs or parameter budget needs the space cost table (costs)');
    }
    this.precheck();
  }

  get empty(): boolean {
    return this.flops === undefined && this.params === undefined && this.check === undefined;
  }

  /** Throws INFEASIBLE when a budget lies outside the range of every path. */
  private precheck(): void {
    const c = this.costs;
    if (c === undefined) return;
    const test = (r: Range | undefined, lo: number, hi: number, what: string): void => {
      if (r === undefined) return;
      if ((r.max !== undefined && r.max < lo) || (r.min !== undefined && r.min > hi)) {
        throw new ConstraintError('INFEASIBLE', `no path meets the ${what} budget ${formatRange(r)}: paths of this space have ${formatCount(lo, 2)} to ${formatCount(hi, 2)} ${what}`);
      }
    };
    test(this.flops, c.minFlops, c.maxFlops, 'FLOPs');
    test(this.params, c.minParams, c.maxParams, 'parameters');
  }

  /** Why `arch` fails, or null when it meets every constraint. Counts rejections. */
  reject(arch: readonly number[]): RejectReason | null {
    const c = this.costs;
    if (this.flops !== undefined && !inRange((c as CostTable).flopsUnchecked(arch), this.flops)) {
      this.rejected.flops++;
      return 'flops';
    }
    if (this.params !== undefined && !inRange((c as CostTable).archParams(arch), this.params)) {
      this.rejected.params++;
      return 'params';
    }
    if (this.check !== undefined && !this.check(arch)) {
      this.rejected.check++;
      return 'check';
    }
    return null;
  }

  accepts(arch: readonly number[]): boolean {
    return this.reject(arch) === null;
  }

  /** One line naming the active constraints, for error messages. */
  describe(): string {
    const parts: string[] = [];
    if (this.flops !== undefined) parts.push(`FLOPs ${formatRange(this.flops)}`);
    if (this.params !== undefined) parts.push(`parameters ${formatRange(this.params)}`);
    if (this.check !== undefined) parts.push('the constraint hook');
    return parts.length > 0 ? parts.join(', ') : 'no constraints';
  }

  rejectionSummary(): string {
    return `rejected by FLOPs ${this.rejected.flops}, by parameters ${this.rejected.params}, by the hook ${this.rejected.check}`;
  }
}
