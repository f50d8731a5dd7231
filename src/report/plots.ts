// Plots of a run directory: training curves, the eps schedule with pool turnover, the histogram of
// candidate-pool losses and the per-generation best of the pool-seeded vs randomly seeded
// evolutionary search (the comparison of the paper's Figure 3). Each plot is a Vega-Lite spec,
// compiled and laid out by Vega headless (renderer 'none', view.toSVG()), then rasterised to PNG
// by resvg.
//
// Output is the same bytes for the same input:
//   - Vega measures text with node-canvas when it is installed; that is switched off here, so the
//     layout always uses Vega's fixed width estimate and never depends on installed packages;
//   - clip-path and gradient ids are module counters in Vega; they are reset before each render;
//   - resvg gets an explicit font file (DejaVu Sans, found at the usual Linux paths, or the one in
//     PlotOptions.fonts) with system fonts off, so the PNG does not depend on what else is
//     installed. Without any such file, resvg falls back to the system fonts (a warning with code
//     GREEDYNAS_PLOT_FONT is emitted once); with no fonts at all the PNG has lines but no text,
//     while the SVG keeps its text either way.
// Every file has the same pixel size (800x500 by default). Vega sizes a chart from its panels plus
// axes, legend and title, so each chart is rendered twice: once to measure, once with the panel
// sizes corrected to hit the target. A residual (rare; axis labels can change width with the
// panel size) is absorbed by scaling through the SVG viewBox.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export interface EpochPoint { epoch: number; trainLoss: number; trainAccuracy: number; valLoss?: number; valAccuracy?: number }
export interface EpsPoint { iteration: number; eps: number }
export interface TurnoverPoint { epoch: number; pi: number; alpha: number }
export interface GenerationPoint { generation: number; bestAccuracy: number; bestLoss?: number }
export interface ReportData {
  /** Shown under each plot's title, e.g. "greedy sampler, fmnist space". */
  title: string;
  /** Training curves. */
  epochs?: EpochPoint[];
  /** eps over training iterations. */
  eps?: EpsPoint[];
  /** Pool turnover pi per epoch with the stopping threshold alpha. */
  turnover?: TurnoverPoint[];
  /** Losses of the paths in the candidate pool (histogram). */
  poolScores?: number[];
  /** Per-generation best of the pool-seeded evolutionary search. */
  searchPool?: GenerationPoint[];
  /** Per-generation best of the randomly seeded search. */
  searchRandom?: GenerationPoint[];
}

export interface PlotOptions {
  /** Pixel size of every SVG and PNG (default 800x500). */
  width?: number;
  height?: number;
  /**
   * Font for the PNGs: font files and the family name they define. Default: DejaVu Sans from the
   * usual system paths (Debian package fonts-dejavu-core), else the system fonts.
   */
  fonts?: { files: string[]; family: string };
}

/** Base names of the plots, without extension, in the order writePlots writes them. */
export const PLOT_NAMES = ['training-curves', 'eps-pi', 'pool-histogram', 'search-generations'] as const;
export type PlotName = (typeof PLOT_NAMES)[number];

const DEFAULT_WIDTH = 800;
const DEFAULT_HEIGHT = 500;
/** Longest series drawn as given; longer ones are thinned (see thin()). */
const MAX_LINE_POINTS = 2000;
/** Lines get point marks up to this many points per series. */
const MAX_POINT_MARKS = 60;

const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];
const FONT_STACK = 'DejaVu Sans, Verdana, Arial, sans-serif';

// ---------------------------------------------------------------------------------------------
// Fonts

const DEJAVU_DIRS = [
  '/usr/share/fonts/truetype/dejavu', // Debian, Ubuntu (fonts-dejavu-core)
  '/usr/share/fonts/dejavu', // Fedora, Alpine
  '/usr/share/fonts/TTF', // Arch
  '/usr/share/fonts/dejavu-sans-fonts', // Fedora (newer)
  '/usr/local/share/fonts',
  '/usr/local/share/fonts/dejavu',
  '/opt/homebrew/share/fonts',
];

interface FontChoice { files: string[]; family: string | null }
let cachedFont: FontChoice | null = null;
let warnedNoFont = false;

function findDejaVu(): FontChoice | null {
  for (const d of DEJAVU_DIRS) {
    const regular = join(d, 'DejaVuSans.ttf');
    if (!existsSync(regular)) continue;
    const bold = join(d, 'DejaVuSans-Bold.ttf');
    return { files: existsSync(bold) ? [regular, bold] : [regular], family: 'DejaVu Sans' };
  }
  return null;
}

function resolveFont(options: PlotOptions): FontChoice {
  if (options.fonts !== undefined) {
    const { files, family } = options.fonts;
    if (!Array.isArray(files) || files.length === 0 || typeof family !== 'string' || family === '') {
      throw new TypeError('writePlots: options.fonts needs a non-empty files list and a family name');
    }
    for (const f of files) if (!existsSync(f)) throw new Error(`writePlots: font file not found: ${f}`);
    return { files: [...files], family };
  }
  cachedFont ??= findDejaVu() ?? { files: [], family: null };
  if (cachedFont.family === null && !warnedNoFont) {
    warnedNoFont = true;
    process.emitWarning(
      'no DejaVu Sans font file found (Debian/Ubuntu: apt-get install fonts-dejavu-core); PNG plots use the system fonts and may differ between machines or lack text',
      { code: 'GREEDYNAS_PLOT_FONT' },
    );
  }
  return cachedFont;
}

function resvgOptions(font: FontChoice, width: number): ResvgRenderOptions {
  const fontOpts: NonNullable<ResvgRenderOptions['font']> =
    font.family === null
      ? { loadSystemFonts: true }
      : { loadSystemFonts: false, fontFiles: font.files, defaultFontFamily: font.family, sansSerifFamily: font.family };
  return {
    font: fontOpts,
    fitTo: { mode: 'width', value: width },
    background: 'white',
    logLevel: 'off',
    // geometricPrecision keeps anti-aliased lines and text; crispEdges would snap thin lines.
    shapeRendering: 2,
    textRendering: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Data helpers

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Counts values that are not finite numbers, for the note under a chart's title. */
class Dropped {
  n = 0;
  keep(...xs: unknown[]): boolean {
    const ok = xs.every(finite);
    if (!ok) this.n++;
    return ok;
  }
  note(what: string): string[] {
    return this.n === 0 ? [] : [`${this.n} ${what}${this.n === 1 ? '' : 's'} not shown (not finite)`];
  }
}

/**
 * Fewer points for long series: interior points on a straight line between their neighbours go
 * (an eps schedule is piecewise linear and shrinks to a few points), then, if still too many, every
 * k-th point is kept, always with the first and the last. Input sorted by x.
 */
export function thin<T>(pts: T[], x: (p: T) => number, y: (p: T) => number, max = MAX_LINE_POINTS): T[] {
  if (pts.length <= 2) return pts.slice();
  const kept: T[] = [pts[0] as T];
  for (let i = 1; i < pts.length - 1; i++) {
    const a = kept[kept.length - 1] as T;
    const b = pts[i] as T;
    const c = pts[i + 1] as T;
    const dx1 = x(b) - x(a);
    const dx2 = x(c) - x(b);
    const dy1 = y(b) - y(a);
    const dy2 = y(c) - y(b);
    const cross = dx1 * dy2 - dy1 * dx2;
    const scale = Math.abs(dx1 * dy2) + Math.abs(dy1 * dx2);
    if (!(Math.abs(cross) <= 1e-12 * scale) || dx1 <= 0 || dx2 <= 0) kept.push(b);
  }
  kept.push(pts[pts.length - 1] as T);
  if (kept.length <= max) return kept;
  const step = Math.ceil((kept.length - 1) / (max - 1));
  const out: T[] = [];
  for (let i = 0; i < kept.length - 1; i += step) out.push(kept[i] as T);
  out.push(kept[kept.length - 1] as T);
  return out;
}

/** Accuracy axis format: percent when every value is a fraction in [0, 1], plain otherwise. */
function accuracyAxis(values: number[]): { format?: string; title: string } {
  const fraction = values.length > 0 && values.every((v) => v >= 0 && v <= 1);
  // '%' without precision: Vega picks the precision from the tick step.
  return fraction ? { format: '%', title: 'Top-1 accuracy (%)' } : { title: 'Top-1 accuracy' };
}

/**
 * y domain when all values are equal (one epoch, a flat curve): a band around the value, else Vega
 * draws a zero-span axis with a single, oddly formatted tick. undefined otherwise (Vega decides).
 */
function flatDomain(values: number[]): [number, number] | undefined {
  if (values.length === 0) return undefined;
  const v = values[0] as number;
  if (!values.every((x) => x === v)) return undefined;
  const d = v === 0 ? 1 : Math.abs(v) * 0.1;
  return [v - d, v + d];
}

function byKey<T>(key: (p: T) => number): (a: T, b: T) => number {
  return (a, b) => key(a) - key(b);
}

// ---------------------------------------------------------------------------------------------
// Specs. Each builder returns a function of the panel size, so the size can be corrected.

/** Size of one panel, and the target width of the whole chart (for title limits). */
interface Panel { width: number; height: number; total: number }
/** A Vega-Lite spec, built loosely typed; vl.compile validates it at run time. */
type Spec = Record<string, unknown>;
interface ChartDef { cols: number; rows: number; build: (p: Panel) => Spec }

function baseConfig(): Record<string, unknown> {
  return {
    background: 'white',
    padding: 12,
    config: {
      font: FONT_STACK,
      axis: { titleFontSize: 13, labelFontSize: 11, titleFontWeight: 'normal', gridColor: '#e8e8e8', titlePadding: 8 },
      legend: { orient: 'top', direction: 'horizontal', labelFontSize: 12, titleFontSize: 12, symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 200, labelLimit: 320 },
      title: { fontSize: 16, subtitleFontSize: 12, subtitleColor: '#555555', anchor: 'start', offset: 10 },
      header: { labelFontSize: 13 },
      view: { stroke: '#bbbbbb' },
      line: { strokeWidth: 2 },
      concat: { spacing: 36 },
    },
  };
}

/** Chart title; limit truncates (with an ellipsis) what would otherwise widen the layout. */
function titleOf(text: string, subtitle: string[], limit: number): Spec {
  return { text, subtitle, limit };
}

/** Panel title of a concatenated chart, no wider than its panel. */
function panelTitle(text: string, p: Panel): Spec {
  return { text, fontSize: 13, anchor: 'middle', limit: p.width };
}

function trainingCurves(data: ReportData, epochs: EpochPoint[]): ChartDef {
  const dropped = new Dropped();
  const rows: { epoch: number; split: string; metric: string; value: number }[] = [];
  const sorted = epochs.slice().sort(byKey((p) => p.epoch));
  let hasVal = false;
  for (const p of sorted) {
    if (!finite(p.epoch)) { dropped.n++; continue; }
    const add = (split: string, metric: string, v: number | undefined): void => {
      if (v === undefined) return;
      if (!dropped.keep(v)) return;
      rows.push({ epoch: p.epoch, split, metric, value: v });
      if (split === 'validation') hasVal = true;
    };
    add('train', 'loss', p.trainLoss);
    add('train', 'accuracy', p.trainAccuracy);
    add('validation', 'loss', p.valLoss);
    add('validation', 'accuracy', p.valAccuracy);
  }
  const splits = hasVal ? ['train', 'validation'] : ['train'];
  const acc = accuracyAxis(rows.filter((r) => r.metric === 'accuracy').map((r) => r.value));
  const points = sorted.length <= MAX_POINT_MARKS;
  const scaleOf = (metric: string): Spec => {
    const domain = flatDomain(rows.filter((r) => r.metric === metric).map((r) => r.value));
    return domain === undefined ? { zero: false } : { zero: false, domain };
  };
  const panel = (metric: 'loss' | 'accuracy', title: string, format: string | undefined, p: Panel): Record<string, unknown> => ({
    width: p.width,
    height: p.height,
    title: panelTitle(metric === 'loss' ? 'Loss' : 'Accuracy', p),
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', point: points ? { filled: true, size: 30 } : false },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'Epoch', scale: { nice: false, zero: false }, axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title, scale: scaleOf(metric), axis: format === undefined ? {} : { format } },
      color: { field: 'split', type: 'nominal', title: null, scale: { domain: splits, range: SERIES_COLORS.slice(0, splits.length) } },
    },
  });
  return {
    cols: 2,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf('Training curves', [data.title, ...dropped.note('value')], p.total),
      data: { values: rows },
      hconcat: [panel('loss', 'Loss', undefined, p), panel('accuracy', acc.title, acc.format, p)],
      resolve: { scale: { color: 'shared' } },
    }),
  };
}

function epsAndTurnover(data: ReportData, eps: EpsPoint[] | undefined, turnover: TurnoverPoint[] | undefined): ChartDef {
  const dropped = new Dropped();
  const panels: ((p: Panel) => Record<string, unknown>)[] = [];
  if (eps !== undefined) {
    const pts = thin(
      eps.filter((e) => dropped.keep(e.iteration, e.eps)).sort(byKey((e) => e.iteration)),
      (e) => e.iteration,
      (e) => e.eps,
    ).map((e) => ({ iteration: e.iteration, eps: e.eps }));
    const lo = Math.min(0, ...pts.map((e) => e.eps));
    const hi = Math.max(1, ...pts.map((e) => e.eps));
    panels.push((p) => ({
      width: p.width,
      height: p.height,
      title: panelTitle('Exploration schedule ε', p),
      data: { values: pts },
      mark: { type: 'line', color: SERIES_COLORS[0], point: pts.length <= 2 ? { filled: true, size: 30 } : false },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'Training iteration', scale: { zero: false, nice: false }, axis: { tickMinStep: 1 } },
        y: { field: 'eps', type: 'quantitative', title: 'ε (share of paths from the pool)', scale: { domain: [lo, hi] } },
      },
    }));
  }
  if (turnover !== undefined) {
    const pts = turnover.filter((t) => dropped.keep(t.epoch, t.pi, t.alpha)).sort(byKey((t) => t.epoch));
    const PI = 'π: pool turnover';
    const ALPHA = 'α: stopping threshold';
    const alphas = [...new Set(pts.map((t) => t.alpha))];
    const epochX = { field: 'epoch', type: 'quantitative', title: 'Epoch', scale: { zero: false, nice: false }, axis: { tickMinStep: 1, format: 'd' } };
    const constAlpha = alphas.length === 1 ? (alphas[0] as number) : null;
    const alphaLayer: Record<string, unknown> =
      constAlpha !== null
        ? { data: { values: [{ alpha: constAlpha }] }, mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: 'alpha', type: 'quantitative' }, color: { datum: ALPHA } } }
        : {
            mark: { type: 'line', strokeDash: [6, 4], interpolate: 'step-after' },
            encoding: {
              x: epochX,
              y: { field: 'alpha', type: 'quantitative' },
              color: { datum: ALPHA },
            },
          };
    const points = pts.length <= MAX_POINT_MARKS;
    panels.push((p) => ({
      width: p.width,
      height: p.height,
      title: panelTitle('Pool turnover π', p),
      data: { values: pts.map((t) => ({ epoch: t.epoch, pi: t.pi, alpha: t.alpha })) },
      layer: [
        {
          mark: { type: 'line', point: points ? { filled: true, size: 30 } : false },
          encoding: {
            // x here, not on the layer: the rule layer has its own data without epochs.
            x: epochX,
            y: { field: 'pi', type: 'quantitative', title: 'π (share of new paths in the pool)', scale: { zero: true } },
            color: {
              datum: PI,
              type: 'nominal',
              title: null,
              scale: { domain: [PI, ALPHA], range: [SERIES_COLORS[0], SERIES_COLORS[1]] },
              // Inside the plot, top right: pi starts high on the left and falls towards alpha.
              legend: { orient: 'top-right', direction: 'vertical', fillColor: 'white', strokeColor: '#cccccc', padding: 6 },
            },
          },
        },
        alphaLayer,
      ],
    }));
  }
  return {
    cols: panels.length,
    rows: 1,
    build: (p): Spec => {
      const head = { ...baseConfig(), title: titleOf('Greedy sampling: ε schedule and pool turnover', [data.title, ...dropped.note('point')], p.total) };
      const specs = panels.map((f) => f(p));
      if (specs.length > 1) return { ...head, hconcat: specs, resolve: { scale: { color: 'independent' } } };
      // One panel: its title goes into the chart title.
      const { title: panel, ...only } = specs[0] as Spec;
      const text = (panel as { text: string }).text;
      return { ...only, ...head, title: titleOf(`Greedy sampling: ${text.charAt(0).toLowerCase()}${text.slice(1)}`, [data.title, ...dropped.note('point')], p.total) };
    },
  };
}

function poolHistogram(data: ReportData, scores: number[]): ChartDef {
  const dropped = new Dropped();
  const values = scores.filter((s) => dropped.keep(s));
  const lo = values.length > 0 ? Math.min(...values) : 0;
  const hi = values.length > 0 ? Math.max(...values) : 1;
  // One distinct value: give the binning a range around it, else it has nothing to split.
  const pad = Math.max(Math.abs(lo) * 0.05, 0.05);
  const bin = lo < hi ? { maxbins: 30 } : { maxbins: 30, extent: [lo - pad, hi + pad] };
  const mean = values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
  const stats = values.length > 0 ? `${values.length} paths; loss min ${fmt(lo)}, mean ${fmt(mean)}, max ${fmt(hi)}` : 'no paths';
  return {
    cols: 1,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf('Candidate pool: loss of the paths in the pool', [data.title, stats, ...dropped.note('score')], p.total),
      width: p.width,
      height: p.height,
      data: { values: values.map((loss) => ({ loss })) },
      mark: { type: 'bar', color: SERIES_COLORS[0], stroke: 'white', strokeWidth: 0.5 },
      encoding: {
        x: { field: 'loss', type: 'quantitative', bin, title: 'Path loss on the held-out scoring batch (lower is better)' },
        y: { aggregate: 'count', type: 'quantitative', title: 'Number of paths', axis: { tickMinStep: 1, format: 'd' } },
      },
    }),
  };
}

function searchGenerations(data: ReportData, pool: GenerationPoint[] | undefined, random: GenerationPoint[] | undefined): ChartDef {
  const dropped = new Dropped();
  const POOL = 'pool-seeded (GreedyNAS)';
  const RANDOM = 'random-seeded';
  const rows: { generation: number; seeding: string; accuracy: number }[] = [];
  const series: string[] = [];
  const colors: string[] = [];
  let longest = 0;
  for (const [name, pts, color] of [[POOL, pool, SERIES_COLORS[0]], [RANDOM, random, SERIES_COLORS[1]]] as const) {
    if (pts === undefined) continue;
    series.push(name);
    colors.push(color as string);
    const kept = pts.filter((g) => dropped.keep(g.generation, g.bestAccuracy)).sort(byKey((g) => g.generation));
    longest = Math.max(longest, kept.length);
    for (const g of kept) rows.push({ generation: g.generation, seeding: name, accuracy: g.bestAccuracy });
  }
  const acc = accuracyAxis(rows.map((r) => r.accuracy));
  const points = longest <= MAX_POINT_MARKS;
  const domain = flatDomain(rows.map((r) => r.accuracy));
  return {
    cols: 1,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf('Evolutionary search: best accuracy per generation', [data.title, ...dropped.note('point')], p.total),
      width: p.width,
      height: p.height,
      data: { values: rows },
      mark: { type: 'line', point: points ? { filled: true, size: 36 } : false },
      encoding: {
        x: { field: 'generation', type: 'quantitative', title: 'Generation', scale: { zero: false, nice: false }, axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', title: `Best ${acc.title.charAt(0).toLowerCase()}${acc.title.slice(1)} in population`, scale: domain === undefined ? { zero: false } : { zero: false, domain }, axis: acc.format === undefined ? {} : { format: acc.format } },
        color: { field: 'seeding', type: 'nominal', title: null, scale: { domain: series, range: colors } },
      },
    }),
  };
}

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1000 || a < 0.001 ? x.toExponential(3) : x.toPrecision(4);
}

// ---------------------------------------------------------------------------------------------
// Rendering

let textMetricsFixed = false;

/** Vega's text measurement: the fixed estimate, never node-canvas (see the header). */
function fixTextMetrics(): void {
  if (textMetricsFixed) return;
  textMetricsFixed = true;
  const tm = (vega as unknown as { textMetrics?: { canvas?: (use: boolean) => void } }).textMetrics;
  tm?.canvas?.(false);
}

async function vegaSvg(spec: Spec): Promise<{ svg: string; width: number; height: number }> {
  fixTextMetrics();
  const compiled = vl.compile(spec as unknown as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    vega.resetSVGDefIds();
    const svg = await view.toSVG();
    const m = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
    if (m === null) throw new Error('writePlots: unexpected SVG from Vega (no width/height on the root element)');
    return { svg, width: Number(m[1]), height: Number(m[2]) };
  } finally {
    view.finalize();
  }
}

/** Renders a chart at exactly width x height: measure, correct the panel size, render again. */
async function renderChart(def: ChartDef, width: number, height: number): Promise<string> {
  const pad = 24; // baseConfig padding on both sides
  let panel: Panel = {
    width: Math.max(80, Math.round((width - pad - 90 * def.cols - 36 * (def.cols - 1)) / def.cols)),
    height: Math.max(80, Math.round((height - pad - 130 * def.rows) / def.rows)),
    total: width - pad,
  };
  let out = await vegaSvg(def.build(panel));
  for (let pass = 0; pass < 2 && (out.width !== width || out.height !== height); pass++) {
    panel = {
      width: Math.max(60, panel.width + Math.floor((width - out.width) / def.cols)),
      height: Math.max(60, panel.height + Math.floor((height - out.height) / def.rows)),
      total: width - pad,
    };
    out = await vegaSvg(def.build(panel));
  }
  return fitSvg(out.svg, out.width, out.height, width, height);
}

/** Sets the root size to width x height, scaling the drawing through the viewBox if it differs. */
function fitSvg(svg: string, w: number, h: number, width: number, height: number): string {
  const open = /^<svg[^>]*>/.exec(svg);
  if (open === null) throw new Error('writePlots: unexpected SVG from Vega');
  const tag = open[0]
    .replace(/\swidth="[^"]*"/, ` width="${width}"`)
    .replace(/\sheight="[^"]*"/, ` height="${height}"`)
    .replace(/\sviewBox="[^"]*"/, ` viewBox="0 0 ${w} ${h}"`)
    .replace(/>$/, ' preserveAspectRatio="xMidYMid meet" style="background-color: white">');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${tag}${svg.slice(open[0].length)}\n`;
}

function svgToPng(svg: string, font: FontChoice, width: number): Buffer {
  return new Resvg(svg, resvgOptions(font, width)).render().asPng();
}

// ---------------------------------------------------------------------------------------------

function checkArray(name: string, v: unknown): void {
  if (v !== undefined && !Array.isArray(v)) throw new TypeError(`writePlots: data.${name} must be an array when given, got ${typeof v}`);
}

function checkSize(name: string, v: number | undefined, def: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < 200 || v > 8000) throw new RangeError(`writePlots: ${name} must be an integer in [200, 8000], got ${v}`);
  return v;
}

/**
 * Writes `<name>.svg` and `<name>.png` into `dir` (created if missing) for each plot whose data
 * is present and non-empty: training-curves (epochs), eps-pi (eps and/or turnover: one panel
 * each), pool-histogram (poolScores), search-generations (searchPool and/or searchRandom).
 * Returns the written paths, SVG before PNG, in PLOT_NAMES order. Same input, same bytes.
 */
export async function writePlots(dir: string, data: ReportData, options: PlotOptions = {}): Promise<string[]> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('writePlots: dir must be a non-empty path');
  if (data === null || typeof data !== 'object') throw new TypeError('writePlots: data must be an object');
  if (typeof data.title !== 'string') throw new TypeError('writePlots: data.title must be a string');
  for (const k of ['epochs', 'eps', 'turnover', 'poolScores', 'searchPool', 'searchRandom'] as const) checkArray(k, data[k]);
  const width = checkSize('width', options.width, DEFAULT_WIDTH);
  const height = checkSize('height', options.height, DEFAULT_HEIGHT);

  const some = <T>(a: T[] | undefined): a is T[] => a !== undefined && a.length > 0;
  const charts: [PlotName, ChartDef][] = [];
  if (some(data.epochs)) charts.push(['training-curves', trainingCurves(data, data.epochs)]);
  if (some(data.eps) || some(data.turnover)) {
    charts.push(['eps-pi', epsAndTurnover(data, some(data.eps) ? data.eps : undefined, some(data.turnover) ? data.turnover : undefined)]);
  }
  if (some(data.poolScores)) charts.push(['pool-histogram', poolHistogram(data, data.poolScores)]);
  if (some(data.searchPool) || some(data.searchRandom)) {
    charts.push(['search-generations', searchGenerations(data, some(data.searchPool) ? data.searchPool : undefined, some(data.searchRandom) ? data.searchRandom : undefined)]);
  }
  if (charts.length === 0) return [];

  const font = resolveFont(options);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new Error(`writePlots: cannot create the plot directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const written: string[] = [];
  for (const [name, def] of charts) {
    let svg: string;
    let png: Buffer;
    try {
      svg = await renderChart(def, width, height);
      png = svgToPng(svg, font, width);
    } catch (err) {
      throw new Error(`writePlots: rendering ${name} failed: ${(err as Error).message}`, { cause: err });
    }
    for (const [file, body] of [[join(dir, `${name}.svg`), svg], [join(dir, `${name}.png`), png]] as const) {
      try {
        await writeFile(file, body);
      } catch (err) {
        throw new Error(`writePlots: cannot write ${file} (directory ${dirname(file)}): ${(err as Error).message}`, { cause: err });
      }
      written.push(file);
    }
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// Scatter plots (rank: proxy vs truth; study: one point per path and sampler)

export interface ScatterData {
  title: string;
  subtitle: string[];
  xTitle: string;
  yTitle: string;
  /** One point each; `series` colours them (and names them in the legend when there are several). */
  points: Array<{ x: number; y: number; series: string }>;
}

/** Writes `<name>.svg` and `<name>.png` into `dir`: a scatter plot; returns the two paths. */
export async function writeScatter(dir: string, name: string, data: ScatterData, options: PlotOptions = {}): Promise<string[]> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new TypeError(`writeScatter: name must be lower-case letters, digits and '-', got ${JSON.stringify(name)}`);
  const width = checkSize('width', options.width, DEFAULT_WIDTH);
  const height = checkSize('height', options.height, DEFAULT_HEIGHT);
  const dropped = new Dropped();
  const rows = data.points.filter((q) => dropped.keep(q.x, q.y));
  const series = [...new Set(rows.map((q) => q.series))];
  const def: ChartDef = {
    cols: 1,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf(data.title, [...data.subtitle, ...dropped.note('point')], p.total),
      width: p.width,
      height: p.height,
      data: { values: rows },
      mark: { type: 'point', filled: true, size: 40, opacity: 0.75 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: data.xTitle, scale: { zero: false } },
        y: { field: 'y', type: 'quantitative', title: data.yTitle, scale: { zero: false } },
        color:
          series.length > 1
            ? { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: [...SERIES_COLORS, '#9467bd', '#8c564b'].slice(0, series.length) } }
            : { value: SERIES_COLORS[0] },
      },
    }),
  };
  const svg = await renderChart(def, width, height);
  const png = svgToPng(svg, resolveFont(options), width);
  await mkdir(dir, { recursive: true });
  const files = [join(dir, `${name}.svg`), join(dir, `${name}.png`)];
  await writeFile(files[0]!, svg);
  await writeFile(files[1]!, png);
  return files;
}
