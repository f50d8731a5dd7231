// Scatter plots: `rank` (supernet proxy vs stand-alone truth, one point per path) and the study
// report (one point per path and sampler), drawn by the same machinery as the run plots
// (src/report/render.ts): same size, fonts and bytes for the same input.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkSize, DEFAULT_HEIGHT, DEFAULT_WIDTH, Dropped, renderChart, resolveFont, SERIES_COLORS, svgToPng, titleOf, baseConfig, type ChartDef, type PlotOptions, type Spec } from './render.js';

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
            ? {
                field: 'series',
                type: 'nominal',
                title: null,
                scale: { domain: series, range: [...SERIES_COLORS, '#9467bd', '#8c564b'].slice(0, series.length) },
                // the shared legend draws line strokes; points need filled circles to show their colour
                legend: { symbolType: 'circle', symbolStrokeWidth: 0, symbolSize: 80 },
              }
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
