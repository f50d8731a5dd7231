// Plots of a run directory, each labelled with what it shows:
//   training-curves     loss and accuracy per supernet epoch: training batches (the sampled
//                       paths), the mean of 10 fixed random probe paths on held-out images, and
//                       (GreedyNAS) the candidate pool's best path on the same held-out images;
//                       the epoch where the stopping rule fired is marked
//   eps-pi              the eps schedule and the pool turnover pi with its threshold alpha
//   pool-histogram      the losses of the paths in the candidate pool
//   search-generations  pool-seeded vs randomly seeded evolutionary search (the paper's Figure 3):
//                       each generation's own best (solid) and the best so far (dashed)
//   retrain-curves      retraining of the chosen path from scratch, with its test accuracy
// Each is a Vega-Lite spec rendered to SVG and PNG by src/report/render.ts (same input, same
// bytes; every file 800x500 by default).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  accuracyAxis,
  baseConfig,
  byKey,
  checkSize,
  DEFAULT_HEIGHT,
  DEFAULT_WIDTH,
  Dropped,
  finite,
  flatDomain,
  fmt,
  MAX_POINT_MARKS,
  panelTitle,
  renderChart,
  resolveFont,
  SERIES_COLORS,
  svgToPng,
  thin,
  titleOf,
  type ChartDef,
  type Panel,
  type PlotOptions,
  type Spec,
} from './render.js';

export { thin, type PlotOptions } from './render.js';
export { writeScatter, type ScatterData } from './scatter.js';

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

/** Base names of the plots, without extension, in the order writePlots writes them. */
export const PLOT_NAMES = ['training-curves', 'eps-pi', 'pool-histogram', 'search-generations'] as const;
export type PlotName = (typeof PLOT_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Charts

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

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

function checkArray(name: string, v: unknown): void {
  if (v !== undefined && !Array.isArray(v)) throw new TypeError(`writePlots: data.${name} must be an array when given, got ${typeof v}`);
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
