// What the `describe` CLI command prints about a space: its layers, choices, number of paths,
// FLOPs and parameter ranges, and the share of paths under a FLOPs budget. The share comes from
// the dynamic program over a FLOPs histogram in histogram.ts: a guaranteed bracket
// [lower, upper] around the exact share, not a Monte Carlo estimate.
import { spaceSize } from './arch.js';
import { costTable, formatCount } from './cost.js';
import type { FlopsRange, ShareBracket } from './histogram.js';
import { FlopsHistogram } from './histogram.js';
import type { ResolvedSpace } from './types.js';

export interface LayerDescription {
  /** 'stem', 'fixed.<i>', 'layers.<l>', 'head', 'fc' (the tensor-name prefixes). */
  name: string;
  cin: number;
  cout: number;
  stride: number;
  /** Input and output spatial size as "HxW". */
  inSize: string;
  outSize: string;
  /** Op names (one for fixed parts). */
  ops: string[];
  flops: { min: number; max: number };
  params: { min: number; max: number };
}

export interface SpaceDescription {
  name: string;
  input: { height: number; width: number; channels: number };
  classes: number;
  activation: string;
  choices: string[];
  numLayers: number;
  numChoices: number;
  /** Number of paths: exact decimal, as a power, and its log10. */
  size: { exact: string; power: string; log10: number };
  /** Stem, fixed blocks, searchable layers, head and classifier, in order. */
  layers: LayerDescription[];
  flops: { min: number; max: number; mean: number; fixed: number };
  params: { min: number; max: number; supernet: number; fixed: number };
  /** Share of paths inside a FLOPs budget, when one was asked for. */
  budget: (FlopsRange & { share: ShareBracket; method: string }) | null;
  /** Coarse FLOPs histogram of uniform paths (approximate bin edges). */
  histogram: Array<{ from: number; to: number; share: number }>;
}

export interface DescribeOptions {
  /** FLOPs budget: a maximum, or a range. */
  flopsBudget?: number | FlopsRange;
  /** Histogram buckets of the dynamic program (default 131072). */
  buckets?: number;
  /** Bins of the coarse histogram (default 10). */
  bins?: number;
}

const size2 = (h: number, w: number): string => `${h}x${w}`;

export function describeSpace(space: ResolvedSpace, options: DescribeOptions = {}): SpaceDescription {
  const t = costTable(space);
  const hist = new FlopsHistogram(t, options.buckets ?? 1 << 17);
  const layers: LayerDescription[] = [];
  const s = space.stem;
  const fixedPart = (name: string, c: { flops: number; params: number }, rest: Omit<LayerDescription, 'name' | 'flops' | 'params'>): LayerDescription => ({
    name,
    ...rest,
    flops: { min: c.flops, max: c.flops },
    params: { min: c.params, max: c.params },
  });
  layers.push(fixedPart('stem', t.fixed.stem, { cin: s.cin, cout: s.cout, stride: s.stride, inSize: size2(s.height, s.width), outSize: size2(s.outHeight, s.outWidth), ops: [`conv${s.kernel}x${s.kernel}`] }));
  space.fixed.forEach((f, i) => {
    const c = t.fixed.fixedBlocks[i] as { flops: number; params: number };
    layers.push(fixedPart(`fixed.${i}`, c, { cin: f.cin, cout: f.cout, stride: f.stride, inSize: size2(f.height, f.width), outSize: size2(f.outHeight, f.outWidth), ops: f.ops.map((o) => o.name) }));
  });
  space.layers.forEach((l, i) => {
    const fl = t.flops[i] as readonly number[];
    const pa = t.params[i] as readonly number[];
    layers.push({
      name: `layers.${i}`,
      cin: l.cin,
      cout: l.cout,
      stride: l.stride,
      inSize: size2(l.height, l.width),
      outSize: size2(l.outHeight, l.outWidth),
      ops: l.ops.map((o) => (o.kind === 'conv1x1' ? 'id(conv1x1)' : o.name)),
      flops: { min: Math.min(...fl), max: Math.max(...fl) },
      params: { min: Math.min(...pa), max: Math.max(...pa) },
    });
  });
  const h = space.head;
  layers.push(fixedPart('head', t.fixed.head, { cin: h.cin, cout: h.cout, stride: 1, inSize: size2(h.height, h.width), outSize: size2(h.height, h.width), ops: ['conv1x1'] }));
  layers.push(fixedPart('fc', t.fixed.fc, { cin: space.fc.cin, cout: space.fc.classes, stride: 1, inSize: '1x1', outSize: '1x1', ops: ['fc'] }));

  const count = spaceSize(t);
  let budget: SpaceDescription['budget'] = null;
  if (options.flopsBudget !== undefined) {
    const range: FlopsRange = typeof options.flopsBudget === 'number' ? { max: options.flopsBudget } : { ...options.flopsBudget };
    budget = { ...range, share: hist.share(range), method: `dynamic programming over a FLOPs histogram (bucket ${hist.bucketWidth} multiply-adds): exact share lies in [lower, upper]` };
  }
  return {
    name: space.name,
    input: { ...space.input },
    classes: space.classes,
    activation: space.activation,
    choices: [...space.opNames],
    numLayers: t.numLayers,
    numChoices: t.numChoices,
    size: { exact: count.toString(), power: `${t.numChoices}^${t.numLayers}`, log10: t.numLayers * Math.log10(t.numChoices) },
    layers,
    flops: { min: t.minFlops, max: t.maxFlops, mean: hist.meanFlops, fixed: t.fixed.total.flops },
    params: { min: t.minParams, max: t.maxParams, supernet: t.supernetParams, fixed: t.fixed.total.params },
    budget,
    histogram: hist.coarse(options.bins ?? 10),
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(x < 0.001 ? 4 : 2)}%`;

/** Plain-text rendering of a description, for the terminal. */
export function formatDescription(d: SpaceDescription): string {
  const out: string[] = [];
  out.push(`space ${d.name}: input ${d.input.height}x${d.input.width}x${d.input.channels}, ${d.classes} classes, activation ${d.activation}`);
  out.push(`choices (${d.numChoices}): ${d.choices.map((c, i) => `${i}=${c}`).join(' ')}`);
  out.push(`paths: ${d.size.power} = ${d.size.exact} (10^${d.size.log10.toFixed(2)})`);
  out.push('');
  const rows = d.layers.map((l) => [
    l.name,
    `${l.cin}->${l.cout}`,
    `s${l.stride}`,
    `${l.inSize}->${l.outSize}`,
    l.flops.min === l.flops.max ? formatCount(l.flops.min, 2) : `${formatCount(l.flops.min, 2)}..${formatCount(l.flops.max, 2)}`,
    l.params.min === l.params.max ? formatCount(l.params.min, 1) : `${formatCount(l.params.min, 1)}..${formatCount(l.params.max, 1)}`,
    l.ops.length === 1 ? (l.ops[0] as string) : `${l.ops.length} choices${l.ops.includes('id(conv1x1)') ? ' (id is a 1x1 conv)' : ''}`,
  ]);
  const header = ['layer', 'channels', 'stride', 'size', 'MAdds', 'params', 'ops'];
  const widths = header.map((hd, i) => Math.max(hd.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  out.push(line(header));
  for (const r of rows) out.push(line(r));
  out.push('');
  out.push(`FLOPs (multiply-adds): min ${formatCount(d.flops.min, 2)}, mean ${formatCount(d.flops.mean, 2)}, max ${formatCount(d.flops.max, 2)} (fixed parts ${formatCount(d.flops.fixed, 2)})`);
  out.push(`parameters: min ${formatCount(d.params.min, 2)}, max ${formatCount(d.params.max, 2)} per path; supernet ${formatCount(d.params.supernet, 2)}`);
  if (d.budget !== null) {
    const r = [d.budget.min !== undefined ? `>= ${formatCount(d.budget.min, 2)}` : '', d.budget.max !== undefined ? `<= ${formatCount(d.budget.max, 2)}` : ''].filter((x) => x).join(' and ');
    const sh = d.budget.share;
    const val = sh.upper - sh.lower < 5e-5 ? pct((sh.lower + sh.upper) / 2) : `${pct(sh.lower)} .. ${pct(sh.upper)}`;
    out.push(`paths with FLOPs ${r}: ${val} (${d.budget.method})`);
  }
  out.push('FLOPs histogram of uniform paths:');
  for (const b of d.histogram) out.push(`  ${formatCount(b.from, 1).padStart(8)} .. ${formatCount(b.to, 1).padEnd(8)} ${pct(b.share).padStart(8)} ${'#'.repeat(Math.round(b.share * 60))}`);
  return out.join('\n');
}
