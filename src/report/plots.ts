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

/**
 * One supernet epoch. Accuracies are fractions in [0, 1] (percent axes) or percentages (plain).
 *   train*     the training batches of the epoch, on the paths sampled for them
 *   probe*     mean of a fixed set of random paths on held-out images (every sampler)
 *   poolBest*  GreedyNAS: the candidate pool's best path on the same held-out images
 */
export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  probeLoss?: number;
  probeAccuracy?: number;
  poolBestLoss?: number;
  poolBestAccuracy?: number;
}
export interface EpsPoint { iteration: number; eps: number }
export interface TurnoverPoint { epoch: number; pi: number; alpha: number }
/** One generation of a search: the best found so far and (when known) the generation's own best. */
export interface GenerationPoint { generation: number; bestAccuracy: number; generationBestAccuracy?: number; bestLoss?: number }
/** One retraining epoch. */
export interface RetrainPoint { epoch: number; trainLoss: number; trainAccuracy: number }
export interface ReportData {
  /** Shown under each plot's title, e.g. "greedy sampler, fmnist space". */
  title: string;
  /** Training curves. */
  epochs?: EpochPoint[];
  /** The supernet training was stopped early (by the stopping rule) after this epoch; marked on the training curves. */
  earlyStop?: { epoch: number; label: string };
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
  /** The search's budget and scoring, lines shown under the search plot's title. */
  searchNote?: string[];
  /** Retraining of the chosen path from scratch, per epoch. */
  retrain?: RetrainPoint[];
  /** What was retrained (e.g. the path's key and ops), shown under the retraining plot's title. */
  retrainNote?: string[];
  /** What the losses are, when train and held-out losses differ in kind (e.g. label smoothing on the train loss only). */
  lossNote?: string;
  /** Test-set result after the last retraining epoch. */
  retrainTest?: { accuracy: number; loss?: number; images?: number };
}

/** Base names of the plots, without extension, in the order writePlots writes them. */
export const PLOT_NAMES = ['training-curves', 'eps-pi', 'pool-histogram', 'search-generations', 'retrain-curves'] as const;
export type PlotName = (typeof PLOT_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Charts

/** Series names of the training curves: what each number is, not "validation". */
// Short: the legend's width is estimated generously (src/report/render.ts) and a wide legend
// squeezes the panels; the subtitle says what each one is.
export const TRAIN_SERIES = 'train';
export const PROBE_SERIES = 'random probe paths (held-out)';
export const POOL_BEST_SERIES = 'pool best (held-out)';

/** The short label at the early-stop rule; the subtitle says the rest (a long label would widen the layout). */
export const EARLY_STOP_LABEL = 'early stop';

/** An x position marked by a dashed vertical rule with a short label at its top (layered on a panel). */
function ruleLayers(x: number, label: string, field: string): Spec[] {
  const values = [{ [field]: x, label }];
  return [
    { data: { values }, mark: { type: 'rule', color: '#444444', strokeDash: [5, 4], strokeWidth: 1.5 }, encoding: { x: { field, type: 'quantitative' } } },
    {
      data: { values },
      // Just above the panel (curves often end at its top or bottom corner), right-aligned: the
      // rule usually sits at the last epoch, the right edge of the panel.
      mark: { type: 'text', align: 'right', baseline: 'bottom', dx: 2, dy: -3, fontSize: 11, color: '#444444' },
      encoding: { x: { field, type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
    },
  ];
}

function trainingCurves(data: ReportData, epochs: EpochPoint[]): ChartDef {
  const dropped = new Dropped();
  const rows: { epoch: number; series: string; metric: string; value: number }[] = [];
  const sorted = epochs.slice().sort(byKey((p) => p.epoch));
  const present = new Set<string>();
  for (const p of sorted) {
    if (!finite(p.epoch)) { dropped.n++; continue; }
    const add = (series: string, metric: string, v: number | undefined): void => {
      if (v === undefined) return;
      if (!dropped.keep(v)) return;
      rows.push({ epoch: p.epoch, series, metric, value: v });
      present.add(series);
    };
    add(TRAIN_SERIES, 'loss', p.trainLoss);
    add(TRAIN_SERIES, 'accuracy', p.trainAccuracy);
    add(PROBE_SERIES, 'loss', p.probeLoss);
    add(PROBE_SERIES, 'accuracy', p.probeAccuracy);
    add(POOL_BEST_SERIES, 'loss', p.poolBestLoss);
    add(POOL_BEST_SERIES, 'accuracy', p.poolBestAccuracy);
  }
  const all = [TRAIN_SERIES, PROBE_SERIES, POOL_BEST_SERIES];
  const series = all.filter((x) => present.has(x));
  const colors = all.map((_, i) => SERIES_COLORS[i] as string).filter((_, i) => present.has(all[i]!));
  const acc = accuracyAxis(rows.filter((r) => r.metric === 'accuracy').map((r) => r.value));
  const points = sorted.length <= MAX_POINT_MARKS;
  const stop = data.earlyStop !== undefined && finite(data.earlyStop.epoch) ? data.earlyStop : undefined;
  const scaleOf = (metric: string): Spec => {
    const domain = flatDomain(rows.filter((r) => r.metric === metric).map((r) => r.value));
    return domain === undefined ? { zero: false } : { zero: false, domain };
  };
  const x = { field: 'epoch', type: 'quantitative', title: 'Epoch', scale: { nice: false, zero: false }, axis: { tickMinStep: 1, format: 'd' } };
  const panel = (metric: 'loss' | 'accuracy', title: string, format: string | undefined, p: Panel): Record<string, unknown> => ({
    width: p.width,
    height: p.height,
    title: panelTitle(metric === 'loss' ? 'Loss' : 'Accuracy', p),
    layer: [
      {
        transform: [{ filter: { field: 'metric', equal: metric } }],
        mark: { type: 'line', point: points ? { filled: true, size: 30 } : false },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title, scale: scaleOf(metric), axis: format === undefined ? {} : { format } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: colors } },
        },
      },
      ...(stop !== undefined ? ruleLayers(stop.epoch, EARLY_STOP_LABEL, 'epoch') : []),
    ],
  });
  const notes = [
    // Subtitle lines stay under ~80 characters: longer ones are cut at the chart's width.
    'train: the paths sampled for the training batches of each epoch',
    ...(data.lossNote ? [data.lossNote] : []),
    ...(present.has(PROBE_SERIES) || present.has(POOL_BEST_SERIES) ? ['held-out: training-set images kept out of training (never the test set)'] : []),
    ...(stop !== undefined ? [`dashed line: ${stop.label}`] : []),
    ...dropped.note('value'),
  ];
  return {
    cols: 2,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf('Supernet training curves', [data.title, ...notes], p.total),
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

export const GENERATION_BEST = 'best in generation';
export const BEST_SO_FAR = 'best so far';

function searchGenerations(data: ReportData, pool: GenerationPoint[] | undefined, random: GenerationPoint[] | undefined): ChartDef {
  const dropped = new Dropped();
  const POOL = 'pool-seeded (GreedyNAS)';
  const RANDOM = 'random-seeded';
  const rows: { generation: number; seeding: string; kind: string; accuracy: number }[] = [];
  const series: string[] = [];
  const colors: string[] = [];
  const kinds = new Set<string>();
  let longest = 0;
  for (const [name, pts, color] of [[POOL, pool, SERIES_COLORS[0]], [RANDOM, random, SERIES_COLORS[1]]] as const) {
    if (pts === undefined) continue;
    series.push(name);
    colors.push(color as string);
    const kept = pts.filter((g) => dropped.keep(g.generation, g.bestAccuracy)).sort(byKey((g) => g.generation));
    longest = Math.max(longest, kept.length);
    for (const g of kept) {
      if (g.generationBestAccuracy !== undefined && dropped.keep(g.generationBestAccuracy)) {
        rows.push({ generation: g.generation, seeding: name, kind: GENERATION_BEST, accuracy: g.generationBestAccuracy });
        kinds.add(GENERATION_BEST);
      }
      rows.push({ generation: g.generation, seeding: name, kind: BEST_SO_FAR, accuracy: g.bestAccuracy });
      kinds.add(BEST_SO_FAR);
    }
  }
  const kindDomain = [GENERATION_BEST, BEST_SO_FAR].filter((k) => kinds.has(k));
  const acc = accuracyAxis(rows.map((r) => r.accuracy));
  const points = longest <= MAX_POINT_MARKS;
  const domain = flatDomain(rows.map((r) => r.accuracy));
  const what = kinds.has(GENERATION_BEST) ? 'best per generation and best so far' : 'best so far';
  return {
    cols: 1,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf(`Evolutionary search: ${what}`, [data.title, ...(data.searchNote ?? []), ...dropped.note('point')], p.total),
      width: p.width,
      height: p.height,
      data: { values: rows },
      mark: { type: 'line', point: points ? { filled: true, size: 36 } : false },
      encoding: {
        x: { field: 'generation', type: 'quantitative', title: 'Generation', scale: { zero: false, nice: false }, axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', title: `${acc.title} on held-out images`, scale: domain === undefined ? { zero: false } : { zero: false, domain }, axis: acc.format === undefined ? {} : { format: acc.format } },
        color: { field: 'seeding', type: 'nominal', title: null, scale: { domain: series, range: colors } },
        // One line per seeding and kind; the kind shows as solid or dashed.
        strokeDash: { field: 'kind', type: 'nominal', title: null, scale: { domain: kindDomain, range: kindDomain.map((k) => (k === BEST_SO_FAR ? [6, 4] : [1, 0])) } },
      },
    }),
  };
}

export const RETRAIN_TRAIN_SERIES = 'train (augmented batches)';
export const RETRAIN_TEST_SERIES = 'test (once, after training)';

function retrainCurves(data: ReportData, epochs: RetrainPoint[]): ChartDef {
  const dropped = new Dropped();
  const rows: { epoch: number; series: string; metric: string; value: number }[] = [];
  const sorted = epochs.filter((e) => dropped.keep(e.epoch)).sort(byKey((e) => e.epoch));
  for (const e of sorted) {
    if (dropped.keep(e.trainLoss)) rows.push({ epoch: e.epoch, series: RETRAIN_TRAIN_SERIES, metric: 'loss', value: e.trainLoss });
    if (dropped.keep(e.trainAccuracy)) rows.push({ epoch: e.epoch, series: RETRAIN_TRAIN_SERIES, metric: 'accuracy', value: e.trainAccuracy });
  }
  const last = sorted[sorted.length - 1]?.epoch;
  const test = data.retrainTest;
  let testNote: string[] = [];
  if (test !== undefined && last !== undefined) {
    if (finite(test.loss)) rows.push({ epoch: last, series: RETRAIN_TEST_SERIES, metric: 'loss', value: test.loss });
    if (dropped.keep(test.accuracy)) {
      rows.push({ epoch: last, series: RETRAIN_TEST_SERIES, metric: 'accuracy', value: test.accuracy });
      const shown = test.accuracy <= 1 ? `${(100 * test.accuracy).toFixed(2)}%` : fmt(test.accuracy);
      testNote = [`test accuracy ${shown}${test.images !== undefined ? ` on ${test.images} test images` : ''}, measured once after training`];
    }
  }
  const series = [RETRAIN_TRAIN_SERIES, ...(rows.some((r) => r.series === RETRAIN_TEST_SERIES) ? [RETRAIN_TEST_SERIES] : [])];
  const acc = accuracyAxis(rows.filter((r) => r.metric === 'accuracy').map((r) => r.value));
  const points = sorted.length <= MAX_POINT_MARKS;
  const scaleOf = (metric: string): Spec => {
    const domain = flatDomain(rows.filter((r) => r.metric === metric).map((r) => r.value));
    return domain === undefined ? { zero: false } : { zero: false, domain };
  };
  const x = { field: 'epoch', type: 'quantitative', title: 'Epoch', scale: { nice: false, zero: false }, axis: { tickMinStep: 1, format: 'd' } };
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: [SERIES_COLORS[0], SERIES_COLORS[1]].slice(0, series.length) } };
  const panel = (metric: 'loss' | 'accuracy', title: string, format: string | undefined, p: Panel): Record<string, unknown> => {
    const y = { field: 'value', type: 'quantitative', title, scale: scaleOf(metric), axis: format === undefined ? {} : { format } };
    return {
      width: p.width,
      height: p.height,
      title: panelTitle(metric === 'loss' ? 'Loss' : 'Accuracy', p),
      layer: [
        { transform: [{ filter: { and: [{ field: 'metric', equal: metric }, { field: 'series', equal: RETRAIN_TRAIN_SERIES }] } }], mark: { type: 'line', point: points ? { filled: true, size: 30 } : false }, encoding: { x, y, color } },
        { transform: [{ filter: { and: [{ field: 'metric', equal: metric }, { field: 'series', equal: RETRAIN_TEST_SERIES }] } }], mark: { type: 'point', shape: 'diamond', filled: true, size: 140, opacity: 1 }, encoding: { x, y, color } },
      ],
    };
  };
  return {
    cols: 2,
    rows: 1,
    build: (p): Spec => ({
      ...baseConfig(),
      title: titleOf('Retraining the chosen path from scratch', [data.title, ...(data.retrainNote ?? []), ...testNote, ...(data.lossNote ? [data.lossNote] : []), ...dropped.note('value')], p.total),
      data: { values: rows },
      hconcat: [panel('loss', 'Loss', undefined, p), panel('accuracy', acc.title, acc.format, p)],
      resolve: { scale: { color: 'shared' } },
    }),
  };
}

// ---------------------------------------------------------------------------------------------

function checkArray(name: string, v: unknown): void {
  if (v !== undefined && !Array.isArray(v)) throw new TypeError(`writePlots: data.${name} must be an array when given, got ${typeof v}`);
}

/**
 * Writes `<name>.svg` and `<name>.png` into `dir` (created if missing) for each plot whose data
 * is present and non-empty: training-curves (epochs), eps-pi (eps and/or turnover: one panel
 * each), pool-histogram (poolScores), search-generations (searchPool and/or searchRandom),
 * retrain-curves (retrain).
 * Returns the written paths, SVG before PNG, in PLOT_NAMES order. Same input, same bytes.
 */
export async function writePlots(dir: string, data: ReportData, options: PlotOptions = {}): Promise<string[]> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('writePlots: dir must be a non-empty path');
  if (data === null || typeof data !== 'object') throw new TypeError('writePlots: data must be an object');
  if (typeof data.title !== 'string') throw new TypeError('writePlots: data.title must be a string');
  for (const k of ['epochs', 'eps', 'turnover', 'poolScores', 'searchPool', 'searchRandom', 'retrain'] as const) checkArray(k, data[k]);
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
  if (some(data.retrain)) charts.push(['retrain-curves', retrainCurves(data, data.retrain)]);
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
