// The rendering machinery behind every plot (src/report/plots.ts, src/report/scatter.ts): a
// Vega-Lite spec is compiled and laid out by Vega headless (renderer 'none', view.toSVG()), then
// rasterised to PNG by resvg; plus the helpers the chart builders share (thinning long series,
// accuracy axes, titles, the base style).
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
import { join } from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

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

export const DEFAULT_WIDTH = 800;
export const DEFAULT_HEIGHT = 500;
/** Longest series drawn as given; longer ones are thinned (see thin()). */
export const MAX_LINE_POINTS = 2000;
/** Lines get point marks up to this many points per series. */
export const MAX_POINT_MARKS = 60;

export const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];
export const FONT_STACK = 'DejaVu Sans, Verdana, Arial, sans-serif';

// ---------------------------------------------------------------------------------------------
// Fonts

export const DEJAVU_DIRS = [
  '/usr/share/fonts/truetype/dejavu', // Debian, Ubuntu (fonts-dejavu-core)
  '/usr/share/fonts/dejavu', // Fedora, Alpine
  '/usr/share/fonts/TTF', // Arch
  '/usr/share/fonts/dejavu-sans-fonts', // Fedora (newer)
  '/usr/local/share/fonts',
  '/usr/local/share/fonts/dejavu',
  '/opt/homebrew/share/fonts',
];

export interface FontChoice { files: string[]; family: string | null }
let cachedFont: FontChoice | null = null;
let warnedNoFont = false;

export function findDejaVu(): FontChoice | null {
  for (const d of DEJAVU_DIRS) {
    const regular = join(d, 'DejaVuSans.ttf');
    if (!existsSync(regular)) continue;
    const bold = join(d, 'DejaVuSans-Bold.ttf');
    return { files: existsSync(bold) ? [regular, bold] : [regular], family: 'DejaVu Sans' };
  }
  return null;
}

export function resolveFont(options: PlotOptions): FontChoice {
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

export function resvgOptions(font: FontChoice, width: number): ResvgRenderOptions {
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

export const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Counts values that are not finite numbers, for the note under a chart's title. */
export class Dropped {
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
export function accuracyAxis(values: number[]): { format?: string; title: string } {
  const fraction = values.length > 0 && values.every((v) => v >= 0 && v <= 1);
  // '%' without precision: Vega picks the precision from the tick step.
  return fraction ? { format: '%', title: 'Top-1 accuracy (%)' } : { title: 'Top-1 accuracy' };
}

/**
 * y domain when all values are equal (one epoch, a flat curve): a band around the value, else Vega
 * draws a zero-span axis with a single, oddly formatted tick. undefined otherwise (Vega decides).
 */
export function flatDomain(values: number[]): [number, number] | undefined {
  if (values.length === 0) return undefined;
  const v = values[0] as number;
  if (!values.every((x) => x === v)) return undefined;
  const d = v === 0 ? 1 : Math.abs(v) * 0.1;
  return [v - d, v + d];
}

export function byKey<T>(key: (p: T) => number): (a: T, b: T) => number {
  return (a, b) => key(a) - key(b);
}

// ---------------------------------------------------------------------------------------------
// Specs. Each builder returns a function of the panel size, so the size can be corrected.

/** Size of one panel, and the target width of the whole chart (for title limits). */
export interface Panel { width: number; height: number; total: number }
/** A Vega-Lite spec, built loosely typed; vl.compile validates it at run time. */
export type Spec = Record<string, unknown>;
export interface ChartDef { cols: number; rows: number; build: (p: Panel) => Spec }

export function baseConfig(): Record<string, unknown> {
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
export function titleOf(text: string, subtitle: string[], limit: number): Spec {
  return { text, subtitle, limit };
}

/** Panel title of a concatenated chart, no wider than its panel. */
export function panelTitle(text: string, p: Panel): Spec {
  return { text, fontSize: 13, anchor: 'middle', limit: p.width };
}

export function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1000 || a < 0.001 ? x.toExponential(3) : x.toPrecision(4);
}

// ---------------------------------------------------------------------------------------------
// Rendering

let textMetricsFixed = false;

/** Vega's text measurement: the fixed estimate, never node-canvas (see the header). */
export function fixTextMetrics(): void {
  if (textMetricsFixed) return;
  textMetricsFixed = true;
  const tm = (vega as unknown as { textMetrics?: { canvas?: (use: boolean) => void } }).textMetrics;
  tm?.canvas?.(false);
}

export async function vegaSvg(spec: Spec): Promise<{ svg: string; width: number; height: number }> {
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
export async function renderChart(def: ChartDef, width: number, height: number): Promise<string> {
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
export function fitSvg(svg: string, w: number, h: number, width: number, height: number): string {
  const open = /^<svg[^>]*>/.exec(svg);
  if (open === null) throw new Error('writePlots: unexpected SVG from Vega');
  const tag = open[0]
    .replace(/\swidth="[^"]*"/, ` width="${width}"`)
    .replace(/\sheight="[^"]*"/, ` height="${height}"`)
    .replace(/\sviewBox="[^"]*"/, ` viewBox="0 0 ${w} ${h}"`)
    .replace(/>$/, ' preserveAspectRatio="xMidYMid meet" style="background-color: white">');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${tag}${svg.slice(open[0].length)}\n`;
}

export function svgToPng(svg: string, font: FontChoice, width: number): Buffer {
  return new Resvg(svg, resvgOptions(font, width)).render().asPng();
}

// ---------------------------------------------------------------------------------------------

export function checkSize(name: string, v: number | undefined, def: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < 200 || v > 8000) throw new RangeError(`writePlots: ${name} must be an integer in [200, 8000], got ${v}`);
  return v;
}
