// FLOPs and parameter counts of paths, from a lookup table built once per resolved space.
//
// FLOPs are multiply-adds (MACs) of the convolutions, the squeeze-excite fully connected layers
// and the classifier, at the space's input size, head included. Batch norm, activations,
// pooling, the SE gating product, residual adds and bias adds are not counted (the convention
// under which MobileNetV2-1.0 has 300.8M). Parameters are the trained tensors of
// docs/parameters.md: conv and fc weights, fc and SE biases, BN weight and bias; BN running
// statistics are buffers and are not counted. A path's cost is the fixed part (stem, fixed
// blocks, head, classifier) plus one table entry per searchable layer.
import type { ArchSpace } from './arch.js';
import { assertArch } from './arch.js';
import type { ResolvedLayer, ResolvedOp, ResolvedSpace } from './types.js';

export interface OpCost {
  flops: number;
  params: number;
}

/** Cost of one op placed in one layer (see the file header for what is counted). */
export function opCost(layer: ResolvedLayer, op: ResolvedOp): OpCost {
  const inPixels = layer.height * layer.width;
  const outPixels = layer.outHeight * layer.outWidth;
  const { cin, cout } = layer;
  switch (op.kind) {
    case 'skip':
      return { flops: 0, params: 0 };
    case 'conv1x1':
      // P.conv.weight [cout][cin] with the layer's stride, P.bn.*
      return { flops: cout * cin * outPixels, params: cout * cin + 2 * cout };
    case 'mbconv': {
      const mid = op.mid;
      let flops = 0;
      let params = 0;
      if (op.expansion !== 1) {
        // P.expand.conv.weight [mid][cin], P.expand.bn.*; runs at the input resolution.
        flops += mid * cin * inPixels;
        params += mid * cin + 2 * mid;
      }
      // P.dw.conv.weight [k][k][mid], P.dw.bn.*; the layer's stride.
      flops += op.kernel * op.kernel * mid * outPixels;
      params += op.kernel * op.kernel * mid + 2 * mid;
      if (op.se) {
        // P.se.fc1 [R][mid] + [R], P.se.fc2 [mid][R] + [mid]; on the pooled vector.
        const r = op.seWidth;
        flops += 2 * r * mid;
        params += r * mid + r + mid * r + mid;
      }
      // P.project.conv.weight [cout][mid], P.project.bn.*
      flops += cout * mid * outPixels;
      params += cout * mid + 2 * cout;
      return { flops, params };
    }
  }
}

/** Costs of the parts every path shares. */
export interface FixedCosts {
  stem: OpCost;
  fixedBlocks: OpCost[];
  head: OpCost;
  fc: OpCost;
  /** Sum of the above. */
  total: OpCost;
}

function fixedCosts(space: ResolvedSpace): FixedCosts {
  const s = space.stem;
  const stem = {
    flops: s.cout * s.kernel * s.kernel * s.cin * s.outHeight * s.outWidth,
    params: s.cout * s.kernel * s.kernel * s.cin + 2 * s.cout,
  };
  const fixedBlocks = space.fixed.map((layer) => {
    const op = layer.ops[0];
    if (op === undefined) throw new Error('fixed block without an op');
    return opCost(layer, op);
  });
  const h = space.head;
  const head = { flops: h.cout * h.cin * h.height * h.width, params: h.cout * h.cin + 2 * h.cout };
  const fc = { flops: space.fc.classes * space.fc.cin, params: space.fc.classes * space.fc.cin + space.fc.classes };
  const parts = [stem, ...fixedBlocks, head, fc];
  const total = { flops: parts.reduce((a, p) => a + p.flops, 0), params: parts.reduce((a, p) => a + p.params, 0) };
  return { stem, fixedBlocks, head, fc, total };
}

/** Per-(layer, op) lookup table of FLOPs and parameters of one resolved space. */
export class CostTable implements ArchSpace {
  readonly numLayers: number;
  readonly numChoices: number;
  /** flops[l][j]: multiply-adds of choice j in searchable layer l. */
  readonly flops: readonly (readonly number[])[];
  /** params[l][j]: trained parameters of choice j in searchable layer l. */
  readonly params: readonly (readonly number[])[];
  readonly fixed: FixedCosts;
  readonly minFlops: number;
  readonly maxFlops: number;
  readonly minParams: number;
  readonly maxParams: number;
  /** Parameters of the whole supernet (every op of every layer plus the fixed parts). */
  readonly supernetParams: number;

  constructor(readonly space: ResolvedSpace) {
    this.numLayers = space.layers.length;
    this.numChoices = space.opNames.length;
    const table = space.layers.map((layer) => layer.ops.map((op) => opCost(layer, op)));
    this.flops = table.map((row) => row.map((c) => c.flops));
    this.params = table.map((row) => row.map((c) => c.params));
    this.fixed = fixedCosts(space);
    const sumOf = (rows: readonly (readonly number[])[], pick: (row: readonly number[]) => number): number =>
      rows.reduce((a, row) => a + pick(row), 0);
    this.minFlops = this.fixed.total.flops + sumOf(this.flops, (r) => Math.min(...r));
    this.maxFlops = this.fixed.total.flops + sumOf(this.flops, (r) => Math.max(...r));
    this.minParams = this.fixed.total.params + sumOf(this.params, (r) => Math.min(...r));
    this.maxParams = this.fixed.total.params + sumOf(this.params, (r) => Math.max(...r));
    this.supernetParams = this.fixed.total.params + sumOf(this.params, (r) => r.reduce((a, b) => a + b, 0));
  }

  /** Multiply-adds of a path (fixed parts included). Throws a RangeError on an invalid path. */
  archFlops(arch: readonly number[]): number {
    assertArch(arch, this);
    let total = this.fixed.total.flops;
    for (let l = 0; l < arch.length; l++) total += (this.flops[l] as number[])[arch[l] as number] as number;
    return total;
  }

  /** Trained parameters of a path (fixed parts included). Throws a RangeError on an invalid path. */
  archParams(arch: readonly number[]): number {
    assertArch(arch, this);
    let total = this.fixed.total.params;
    for (let l = 0; l < arch.length; l++) total += (this.params[l] as number[])[arch[l] as number] as number;
    return total;
  }

  /** FLOPs without the validity check, for hot loops that built the path themselves. */
  flopsUnchecked(arch: readonly number[]): number {
    let total = this.fixed.total.flops;
    for (let l = 0; l < arch.length; l++) total += (this.flops[l] as number[])[arch[l] as number] as number;
    return total;
  }

  /** The path of least FLOPs (first such choice per layer) and the path of most. */
  extremeArchs(): { minFlops: number[]; maxFlops: number[] } {
    const argBy = (row: readonly number[], better: (a: number, b: number) => boolean): number =>
      row.reduce((best, v, j) => (better(v, row[best] as number) ? j : best), 0);
    return {
      minFlops: this.flops.map((r) => argBy(r, (a, b) => a < b)),
      maxFlops: this.flops.map((r) => argBy(r, (a, b) => a > b)),
    };
  }
}

const tables = new WeakMap<ResolvedSpace, CostTable>();

/** The cost table of a space, built on first use and cached for the life of the space object. */
export function costTable(space: ResolvedSpace): CostTable {
  let t = tables.get(space);
  if (t === undefined) {
    t = new CostTable(space);
    tables.set(space, t);
  }
  return t;
}

export function archFlops(space: ResolvedSpace, arch: readonly number[]): number {
  return costTable(space).archFlops(arch);
}

export function archParams(space: ResolvedSpace, arch: readonly number[]): number {
  return costTable(space).archParams(arch);
}

/** Formats multiply-adds or parameter counts as "36.0M" / "1.23G" / "812.5K". */
export function formatCount(n: number, digits = 1): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(digits + 1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(digits)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(digits)}K`;
  return String(n);
}
