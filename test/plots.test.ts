// Plots of a run directory (src/report/plots.ts) and the CLI's plain-text tables
// (src/report/summary.ts). The SVGs are checked with a small well-formedness parser written here
// (matching tags, quoted attributes, valid entities, one root) and then searched for the axis
// titles and data marks; the PNGs are decoded with sharp (a project dependency) for their size,
// for text pixels in the title area and for the series colours of the lines.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PLOT_NAMES, thin, writePlots, type ReportData } from '../src/report/plots.js';
import { formatTable } from '../src/report/summary.js';

// ---------------------------------------------------------------------------------------------
// A strict-enough XML well-formedness check.

interface XmlElement { name: string; attrs: Record<string, string>; text: string; parent: XmlElement | null }

const NAME = /^[A-Za-z_][\w.:-]*/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(s: string, where: number): string {
  if (s.includes('<')) throw new Error(`XML: '<' in character data at ${where}`);
  if (s.replace(ENTITY, '').includes('&')) throw new Error(`XML: bad entity at ${where}`);
  return s
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}

/** Parses `xml` (throwing on malformed input) into a flat list of elements, document order. */
function parseXml(xml: string): XmlElement[] {
  let i = 0;
  if (xml.startsWith('<?xml')) {
    i = xml.indexOf('?>');
    if (i < 0) throw new Error('XML: unterminated declaration');
    i += 2;
  }
  const out: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = checkText(lt < 0 ? xml.slice(i) : xml.slice(i, lt), i);
    const top = stack[stack.length - 1];
    if (top !== undefined) top.text += text;
    else if (text.trim() !== '') throw new Error(`XML: text outside the root element at ${i}`);
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) throw new Error('XML: unterminated comment');
      i = end + 3;
      continue;
    }
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new Error(`XML: unterminated tag at ${lt}`);
    let tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open === undefined || open.name !== name) throw new Error(`XML: </${name}> at ${lt} closes <${open?.name ?? 'nothing'}>`);
      i = gt + 1;
      continue;
    }
    const selfClosing = tag.endsWith('/');
    if (selfClosing) tag = tag.slice(0, -1);
    const m = NAME.exec(tag);
    if (m === null) throw new Error(`XML: bad tag name at ${lt}`);
    const el: XmlElement = { name: m[0], attrs: {}, text: '', parent: top ?? null };
    let rest = tag.slice(m[0].length);
    while (rest.trim() !== '') {
      const a = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/.exec(rest);
      if (a === null) throw new Error(`XML: bad attribute in <${el.name}> at ${lt}: ${rest.slice(0, 40)}`);
      const key = a[1] as string;
      if (key in el.attrs) throw new Error(`XML: duplicate attribute ${key} in <${el.name}>`);
      el.attrs[key] = checkText(a[2] as string, lt);
      rest = rest.slice(a[0].length);
    }
    if (stack.length === 0 && ++roots > 1) throw new Error('XML: more than one root element');
    out.push(el);
    if (!selfClosing) stack.push(el);
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`XML: <${stack[stack.length - 1]?.name}> not closed`);
  if (roots !== 1) throw new Error('XML: no root element');
  return out;
}

describe('test XML checker', () => {
  it('rejects malformed documents and accepts a good one', () => {
    assert.throws(() => parseXml('<svg><g></svg>'), /closes/);
    assert.throws(() => parseXml('<svg a=1></svg>'), /bad attribute/);
    assert.throws(() => parseXml('<svg>a & b</svg>'), /entity/);
    assert.throws(() => parseXml('<svg/><svg/>'), /more than one root/);
    assert.throws(() => parseXml('<svg>'), /not closed/);
    const els = parseXml('<?xml version="1.0"?>\n<svg w="1"><text x="2">a &amp; &#x3b5;</text></svg>\n');
    assert.deepEqual(els.map((e) => e.name), ['svg', 'text']);
    assert.equal(els[1]?.text, 'a & ε');
  });
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** Text of <text> elements; multi-line text (subtitles) comes as one <tspan> per line. */
const texts = (els: XmlElement[]): string[] => els.filter((e) => e.name === 'text' || e.name === 'tspan').map((e) => e.text).filter((s) => s !== '');
const byRole = (els: XmlElement[], role: string): XmlElement[] => els.filter((e) => e.attrs['aria-roledescription'] === role);

/** Marks inside the mark container whose class names `markName` (e.g. 'concat_1_layer_0'). */
function marksIn(els: XmlElement[], role: string, containerClass: RegExp): XmlElement[] {
  return byRole(els, role).filter((e) => e.parent !== null && containerClass.test(e.parent.attrs.class ?? ''));
}

/** Vertices of an SVG path made of M/L commands (Vega's line marks). */
function vertices(d: string): number {
  assert.match(d, /^M[-\d.,eL]+$/, `not a plain polyline: ${d.slice(0, 60)}`);
  return d.split(/[ML]/).filter((s) => s !== '').length;
}

async function pngInfo(file: string): Promise<{ width: number; height: number; data: Buffer; channels: number }> {
  const buf = await readFile(file);
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file}: no PNG signature`);
  assert.equal(buf.subarray(12, 16).toString('latin1'), 'IHDR');
  const ihdr = { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, ihdr.width);
  assert.equal(info.height, ihdr.height);
  return { width: info.width, height: info.height, data, channels: info.channels };
}

/** Pixels in [x0,x1) x [y0,y1) within `tol` of the colour (per channel). */
function countColour(png: { width: number; data: Buffer; channels: number }, rgb: [number, number, number], tol: number, box?: [number, number, number, number]): number {
  const [x0, y0, x1, y1] = box ?? [0, 0, png.width, png.data.length / png.channels / png.width];
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const o = (y * png.width + x) * png.channels;
      if (Math.abs((png.data[o] as number) - rgb[0]) <= tol && Math.abs((png.data[o + 1] as number) - rgb[1]) <= tol && Math.abs((png.data[o + 2] as number) - rgb[2]) <= tol) n++;
    }
  }
  return n;
}

const DEJAVU = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/dejavu', '/usr/share/fonts/TTF', '/usr/share/fonts/dejavu-sans-fonts', '/usr/local/share/fonts', '/usr/local/share/fonts/dejavu', '/opt/homebrew/share/fonts']
  .some((d) => existsSync(join(d, 'DejaVuSans.ttf')));

// ---------------------------------------------------------------------------------------------
// Synthetic run data

function synthetic(): ReportData {
  const epochs = Array.from({ length: 12 }, (_, i) => ({
    epoch: i + 1,
    trainLoss: 2.3 * Math.exp(-i / 4) + 0.3,
    trainAccuracy: 0.1 + 0.8 * (1 - Math.exp(-i / 3)),
    probeLoss: 2.3 * Math.exp(-i / 5) + 0.5,
    probeAccuracy: 0.1 + 0.6 * (1 - Math.exp(-i / 4)),
    poolBestLoss: 2.3 * Math.exp(-i / 5) + 0.4,
    poolBestAccuracy: 0.1 + 0.7 * (1 - Math.exp(-i / 4)),
  }));
  // eps: 0 up to t0 = 600, then linear to 0.8 at T = 3000 (one point per iteration: thinned).
  const eps = Array.from({ length: 3000 }, (_, t) => ({ iteration: t, eps: t < 600 ? 0 : (0.8 * (t - 600)) / 2400 }));
  const turnover = Array.from({ length: 12 }, (_, i) => ({ epoch: i + 1, pi: 0.9 * Math.exp(-i / 3) + 0.01, alpha: 0.08 }));
  // Pool losses: 6 paths at 1.0 and 3 at 2.0, so two bars, one twice the other.
  const poolScores = [1, 1, 1, 1, 1, 1, 2, 2, 2];
  // Each generation's own best wobbles; the best so far is its running maximum.
  const run = (base: number, wobble: number) => {
    let best = 0;
    return Array.from({ length: 8 }, (_, g) => {
      const own = base + wobble * Math.sin(g * 1.7) + 0.004 * g;
      best = Math.max(best, own);
      return { generation: g, bestAccuracy: best, generationBestAccuracy: own };
    });
  };
  const searchPool = run(0.86, 0.02);
  const searchRandom = run(0.84, 0.03).map((g) => ({ ...g, bestLoss: 0.5 }));
  const retrain = Array.from({ length: 6 }, (_, i) => ({ epoch: i + 1, trainLoss: 1.5 * Math.exp(-i / 3) + 0.4, trainAccuracy: 0.5 + 0.4 * (1 - Math.exp(-i / 2)) }));
  return {
    title: 'greedy sampler, fmnist space <&>',
    epochs,
    earlyStop: { epoch: 12, label: 'stopping rule (π ≤ α = 0.08) after epoch 12 of 20' },
    eps,
    turnover,
    poolScores,
    searchPool,
    searchRandom,
    searchNote: ['budget per run: 8 generations x 30 paths (evolution)', 'every path scored on the same 300 held-out images'],
    retrain,
    retrainNote: ['path 0-1-2: k3e3 k5e3 id'],
    retrainTest: { accuracy: 0.87, loss: 0.45, images: 1000 },
    lossNote: 'train loss with label smoothing 0.1; held-out and test loss without',
  };
}

// ---------------------------------------------------------------------------------------------

describe('writePlots', () => {
  let root: string;
  let full: string;
  let written: string[];
  const svg = new Map<string, XmlElement[]>();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'greedynas-plots-'));
    full = join(root, 'run', 'plots'); // nested and missing: writePlots creates it
    written = await writePlots(full, synthetic());
    for (const name of PLOT_NAMES) svg.set(name, parseXml(await readFile(join(full, `${name}.svg`), 'utf8')));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes an SVG and a PNG for every plot, and returns their paths in order', async () => {
    const expected = PLOT_NAMES.flatMap((n) => [join(full, `${n}.svg`), join(full, `${n}.png`)]);
    assert.deepEqual(written, expected);
    assert.deepEqual((await readdir(full)).sort(), expected.map((f) => f.slice(full.length + 1)).sort());
  });

  it('SVGs are well-formed, 800x500, with the run title escaped', () => {
    for (const [name, els] of svg) {
      const root = els[0] as XmlElement;
      assert.equal(root.name, 'svg', name);
      assert.equal(root.attrs.width, '800', name);
      assert.equal(root.attrs.height, '500', name);
      assert.ok(texts(els).includes('greedy sampler, fmnist space <&>'), `${name}: run title missing`);
    }
  });

  it('training curves: three labelled series (train, probe paths, pool best; no "validation"), 12 epochs each, the early stop marked', () => {
    const els = svg.get('training-curves') as XmlElement[];
    const t = texts(els);
    for (const s of ['Supernet training curves', 'Epoch', 'Loss', 'Top-1 accuracy (%)', 'train', 'random probe paths (held-out)', 'pool best (held-out)', 'early stop']) assert.ok(t.includes(s), `missing text ${s}`);
    assert.ok(!t.some((s) => /validation/i.test(s)), `"validation" still labels a series: ${t.join(' | ')}`);
    assert.ok(t.includes('dashed line: stopping rule (π ≤ α = 0.08) after epoch 12 of 20'), t.join(' | '));
    assert.ok(t.includes('train loss with label smoothing 0.1; held-out and test loss without'));
    // Accuracies are fractions: the axis shows percent.
    assert.ok(t.some((s) => /^\d+%$/.test(s)), 'no percent tick labels');
    const lines = byRole(els, 'line mark');
    assert.equal(lines.length, 6, 'three series in each of the two panels');
    for (const l of lines) assert.equal(vertices(l.attrs.d as string), 12);
    assert.deepEqual([...new Set(lines.map((l) => l.attrs.stroke))].sort(), ['#1f77b4', '#2ca02c', '#d62728']);
    assert.equal(byRole(els, 'point').length, 6 * 12);
    // The early stop: a dashed vertical rule in each panel, at the last epoch (the right edge).
    const rules = byRole(els, 'rule mark');
    assert.equal(rules.length, 2);
    for (const r of rules) {
      assert.ok('stroke-dasharray' in r.attrs, 'early-stop rule is dashed');
      assert.equal(r.attrs['aria-label'], 'epoch: 12');
      assert.equal(r.attrs.x2, '0', 'the rule is vertical');
    }
  });

  it('training curves: without probe or pool data only the train series, and no stop marker', async () => {
    const dir = join(root, 'train-only');
    await writePlots(dir, { title: 'uniform', epochs: [{ epoch: 1, trainLoss: 2, trainAccuracy: 0.3 }, { epoch: 2, trainLoss: 1.5, trainAccuracy: 0.5 }] });
    const els = parseXml(await readFile(join(dir, 'training-curves.svg'), 'utf8'));
    const t = texts(els);
    assert.ok(t.includes('train'));
    assert.ok(!t.includes('random probe paths (held-out)') && !t.includes('pool best (held-out)') && !t.includes('early stop'));
    assert.equal(byRole(els, 'rule mark').length, 0);
  });

  it('eps and turnover: both panels, the eps line thinned to its corners, the alpha rule', () => {
    const els = svg.get('eps-pi') as XmlElement[];
    const t = texts(els);
    for (const s of ['Training iteration', 'ε (share of paths from the pool)', 'Epoch', 'π (share of new paths in the pool)', 'π: pool turnover', 'α: stopping threshold']) {
      assert.ok(t.includes(s), `missing text ${s}`);
    }
    const epsLine = marksIn(els, 'line mark', /concat_0_marks/);
    assert.equal(epsLine.length, 1);
    // 3000 points of a piecewise-linear schedule: start, the knee at t0, the end.
    assert.equal(vertices(epsLine[0]?.attrs.d as string), 3);
    const piLine = marksIn(els, 'line mark', /concat_1_layer_0/);
    assert.equal(piLine.length, 1);
    assert.equal(vertices(piLine[0]?.attrs.d as string), 12);
    const rules = byRole(els, 'rule mark');
    assert.equal(rules.length, 1, 'one alpha rule');
    assert.ok('stroke-dasharray' in (rules[0] as XmlElement).attrs, 'alpha rule is dashed');
  });

  it('pool histogram: axis titles and bars proportional to the counts', () => {
    const els = svg.get('pool-histogram') as XmlElement[];
    const t = texts(els);
    assert.ok(t.includes('Number of paths'));
    assert.ok(t.some((s) => s.startsWith('Path loss')));
    assert.ok(t.some((s) => s.startsWith('9 paths; loss min 1.000, mean 1.333, max 2.000')), t.join(' | '));
    const heights = byRole(els, 'bar').map((b) => Number(/v([\d.]+)h/.exec(b.attrs.d as string)?.[1]));
    assert.equal(heights.length, 2);
    const [a, b] = heights.sort((x, y) => x - y) as [number, number];
    assert.ok(Math.abs(b / a - 2) < 1e-6, `bar heights ${a}, ${b} not 1:2`);
  });

  it('search generations: per seeding, the best of each generation (solid) and the best so far (dashed), with the budget', () => {
    const els = svg.get('search-generations') as XmlElement[];
    const t = texts(els);
    for (const s of ['Evolutionary search: best per generation and best so far', 'Generation', 'Top-1 accuracy (%) on held-out images', 'pool-seeded (GreedyNAS)', 'random-seeded', 'best in generation', 'best so far', 'budget per run: 8 generations x 30 paths (evolution)']) {
      assert.ok(t.includes(s), `missing text ${s}`);
    }
    const lines = byRole(els, 'line mark');
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.map((l) => l.attrs.stroke).sort(), ['#1f77b4', '#1f77b4', '#d62728', '#d62728']);
    const dashed = lines.filter((l) => 'stroke-dasharray' in l.attrs && l.attrs['stroke-dasharray'] !== '1,0');
    assert.equal(dashed.length, 2, 'one dashed best-so-far line per seeding');
    for (const l of lines) assert.equal(vertices(l.attrs.d as string), 8);
  });

  it('retraining curves: train loss and accuracy per epoch, the test result once, what was retrained', () => {
    const els = svg.get('retrain-curves') as XmlElement[];
    const t = texts(els);
    for (const s of ['Retraining the chosen path from scratch', 'path 0-1-2: k3e3 k5e3 id', 'test accuracy 87.00% on 1000 test images, measured once after training', 'train (augmented batches)', 'test (once, after training)', 'Epoch', 'Loss', 'Top-1 accuracy (%)']) {
      assert.ok(t.includes(s), `missing text ${s}`);
    }
    const lines = byRole(els, 'line mark');
    assert.equal(lines.length, 2, 'loss and accuracy of the training batches');
    for (const l of lines) assert.equal(vertices(l.attrs.d as string), 6);
    // The test loss and accuracy: one diamond each, in red.
    const diamonds = byRole(els, 'point').filter((e) => e.attrs.fill === '#d62728');
    assert.equal(diamonds.length, 2);
  });

  it('PNGs are 800x500, with text in the title area and the series colours drawn', async () => {
    for (const name of PLOT_NAMES) {
      const png = await pngInfo(join(full, `${name}.png`));
      assert.equal(png.width, 800, name);
      assert.equal(png.height, 500, name);
      // Background white, corners included.
      assert.equal(countColour(png, [255, 255, 255], 0, [0, 0, 2, 2]), 4, `${name}: corner not white`);
      // The blue series (or the bars) cover a fair number of pixels.
      assert.ok(countColour(png, [31, 119, 180], 40) > 500, `${name}: too little of the first series colour`);
      if (DEJAVU) {
        // Black title text in the top-left band (lines and bars are coloured, axes grey).
        const dark = countColour(png, [0, 0, 0], 60, [0, 0, 400, 32]);
        assert.ok(dark > 150, `${name}: no title text rendered (${dark} dark pixels)`);
      }
    }
    const search = await pngInfo(join(full, 'search-generations.png'));
    assert.ok(countColour(search, [214, 39, 40], 40) > 500, 'random-seeded line (red) not drawn');
    const curves = await pngInfo(join(full, 'training-curves.png'));
    assert.ok(countColour(curves, [44, 160, 44], 40) > 300, 'pool-best line (green) not drawn');
    assert.ok(countColour(curves, [214, 39, 40], 40) > 300, 'probe-paths line (red) not drawn');
    const retrained = await pngInfo(join(full, 'retrain-curves.png'));
    assert.ok(countColour(retrained, [214, 39, 40], 40) > 100, 'test diamonds (red) not drawn');
  });

  it('same input, same bytes', async () => {
    const again = join(root, 'again');
    const files = await writePlots(again, synthetic());
    assert.equal(files.length, 2 * PLOT_NAMES.length);
    for (const f of files) {
      const name = f.slice(again.length + 1);
      assert.ok((await readFile(f)).equals(await readFile(join(full, name))), `${name} differs between two runs`);
    }
  });

  it('writes only the plots whose data is present; none for no data', async () => {
    const none = join(root, 'none');
    assert.deepEqual(await writePlots(none, { title: 'nothing' }), []);
    assert.deepEqual(await writePlots(none, { title: 'empty', epochs: [], eps: [], turnover: [], poolScores: [], searchPool: [], searchRandom: [], retrain: [] }), []);
    assert.equal(existsSync(none), false, 'no data: no directory either');

    const some = join(root, 'some');
    const files = await writePlots(some, { title: 'random only', searchRandom: [{ generation: 0, bestAccuracy: 71 }, { generation: 1, bestAccuracy: 73.5 }], turnover: [{ epoch: 0, pi: 0.5, alpha: 0.08 }] });
    assert.deepEqual(files, ['eps-pi.svg', 'eps-pi.png', 'search-generations.svg', 'search-generations.png'].map((f) => join(some, f)));
    assert.deepEqual((await readdir(some)).sort(), ['eps-pi.png', 'eps-pi.svg', 'search-generations.png', 'search-generations.svg']);
    const search = parseXml(await readFile(join(some, 'search-generations.svg'), 'utf8'));
    assert.equal(byRole(search, 'line mark').length, 1);
    assert.ok(texts(search).includes('random-seeded'));
    assert.ok(!texts(search).includes('pool-seeded (GreedyNAS)'));
    // Accuracies above 1 are percentages already: plain axis, no '%' ticks. Without each
    // generation's own best only the best so far is drawn, and the title says so.
    assert.ok(texts(search).includes('Top-1 accuracy on held-out images'));
    assert.ok(texts(search).includes('Evolutionary search: best so far'));
    const turnover = parseXml(await readFile(join(some, 'eps-pi.svg'), 'utf8'));
    assert.ok(!texts(turnover).includes('Training iteration'), 'no eps panel without eps data');
    assert.ok(texts(turnover).includes('Greedy sampling: pool turnover π'));
    assert.equal((await pngInfo(join(some, 'eps-pi.png'))).width, 800);
  });

  it('leaves non-finite values out and says so', async () => {
    const dir = join(root, 'nan');
    await writePlots(dir, { title: 'diverged', epochs: [{ epoch: 1, trainLoss: 2, trainAccuracy: 0.2 }, { epoch: 2, trainLoss: NaN, trainAccuracy: 0.3 }, { epoch: 3, trainLoss: 1.5, trainAccuracy: 0.4 }] });
    const els = parseXml(await readFile(join(dir, 'training-curves.svg'), 'utf8'));
    assert.ok(texts(els).includes('1 value not shown (not finite)'), texts(els).join(' | '));
    assert.ok(!texts(els).includes('random probe paths (held-out)'), 'no probe series without probe data');
    const lines = byRole(els, 'line mark');
    assert.deepEqual(lines.map((l) => vertices(l.attrs.d as string)).sort(), [2, 3]);
  });

  it('honours another size', async () => {
    const dir = join(root, 'small');
    const [svgFile, pngFile] = await writePlots(dir, { title: 'small', poolScores: [0.5, 0.7, 0.7, 0.9] }, { width: 640, height: 400 });
    const rootEl = parseXml(await readFile(svgFile as string, 'utf8'))[0] as XmlElement;
    assert.deepEqual([rootEl.attrs.width, rootEl.attrs.height], ['640', '400']);
    const png = await pngInfo(pngFile as string);
    assert.deepEqual([png.width, png.height], [640, 400]);
    await assert.rejects(writePlots(dir, { title: 'x', poolScores: [1] }, { width: 10 }), /width must be an integer/);
  });

  it('an unwritable directory gives a clear error', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'not a directory');
    await assert.rejects(writePlots(join(file, 'plots'), { title: 't', poolScores: [1, 2] }), (err: Error) => {
      assert.match(err.message, /writePlots: cannot create the plot directory .*a-file[/\\]plots/);
      return true;
    });
    // The directory exists but a plot's file name is taken by a directory.
    const taken = join(root, 'taken');
    await mkdir(join(taken, 'pool-histogram.svg'), { recursive: true });
    await assert.rejects(writePlots(taken, { title: 't', poolScores: [1, 2] }), /writePlots: cannot write .*pool-histogram\.svg/);
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      const { chmod } = await import('node:fs/promises');
      const ro = join(root, 'read-only');
      await mkdir(ro);
      await chmod(ro, 0o500);
      await assert.rejects(writePlots(ro, { title: 't', poolScores: [1, 2] }), /writePlots: cannot write/);
    }
  });

  it('rejects bad input with a clear error', async () => {
    await assert.rejects(writePlots('', { title: 't' }), /dir must be a non-empty path/);
    await assert.rejects(writePlots(root, { title: 3 } as unknown as ReportData), /data\.title must be a string/);
    await assert.rejects(writePlots(root, { title: 't', eps: 5 } as unknown as ReportData), /data\.eps must be an array/);
    await assert.rejects(writePlots(join(root, 'f'), { title: 't', poolScores: [1] }, { fonts: { files: [join(root, 'missing.ttf')], family: 'X' } }), /font file not found/);
  });
});

describe('thin', () => {
  const pts = (ys: number[]): { x: number; y: number }[] => ys.map((y, x) => ({ x, y }));
  const X = (p: { x: number }): number => p.x;
  const Y = (p: { y: number }): number => p.y;

  it('drops interior points on straight segments and keeps the corners', () => {
    const ys = Array.from({ length: 101 }, (_, x) => (x < 40 ? 0 : x < 70 ? (x - 40) / 30 : 1));
    assert.deepEqual(thin(pts(ys), X, Y).map(X), [0, 40, 70, 100]);
  });

  it('keeps everything on a curve up to the limit, then every k-th with first and last', () => {
    const ys = Array.from({ length: 50 }, (_, x) => x * x);
    assert.equal(thin(pts(ys), X, Y).length, 50);
    const few = thin(pts(ys), X, Y, 10).map(X);
    assert.ok(few.length <= 10, `${few.length} points`);
    assert.equal(few[0], 0);
    assert.equal(few[few.length - 1], 49);
  });
});

describe('formatTable', () => {
  it('aligns columns, numeric columns (header too) to the right, with a rule under the header', () => {
    const out = formatTable(
      [
        ['greedy', '0.8123', '12'],
        ['uniform (SPOS)', '0.79', '1,024'],
      ],
      ['sampler', 'acc', 'paths'],
    );
    assert.equal(
      out,
      ['sampler            acc  paths', '--------------  ------  -----', 'greedy          0.8123     12', 'uniform (SPOS)    0.79  1,024'].join('\n'),
    );
  });

  it('percent cells numeric, ragged rows padded, code points counted', () => {
    const out = formatTable([['ε', '5%'], ['α', '12.5%'], ['π']], ['sym', 'value']);
    assert.equal(out, ['sym  value', '---  -----', 'ε       5%', 'α    12.5%', 'π'].join('\n'));
  });

  it('rejects rows longer than the header and cells with line breaks', () => {
    assert.throws(() => formatTable([['a', 'b']], ['x']), /row 0 has 2 cells/);
    assert.throws(() => formatTable([['a\nb']], ['x']), /line breaks/);
    assert.throws(() => formatTable([], []), /header must be a non-empty/);
  });
});
