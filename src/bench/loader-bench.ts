// `npm run bench:loader`: can the streaming image-folder loader feed the engine? On a synthetic
// ImageNet-layout tree (train/<class>/<image>.jpg, val/<class>/...), generated once with sharp and
// kept for later runs, it measures in fresh processes of their own (src/bench/loader-side.ts):
//   - the streaming loader: images/s delivered at W1's input size with W1's training
//     augmentation, batch 128, as many decode workers as the bench's threads; its peak RSS;
//   - the same reading the decoded-tensor cache, and the in-memory path, for comparison;
//   - the engine's trainStep images/s on W1 at batch 128 with the same threads.
// Bar (issue 13): streaming loader >= engine training throughput, loader peak RSS < 1 GB.
//
// The tree: --classes (100) x --per-class (500) training JPEGs plus 5 per class in val/, sizes
// ImageNet's typical 500x375 scaled by about 1/8: width 40..79, height 32..63 pixels, smooth
// colour fields with a per-image pattern and noise (quality 85). A marker file records the
// parameters; a tree with other parameters is regenerated.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

import { defaultCacheDir } from '../data/image-folder.js';
import { nativeJpegDecoder } from '../native/image.js';
import { packageRoot } from '../util/package-root.js';
import { commit, machine, runSide } from './side.js';

interface TreeSpec {
  classes: number;
  perClass: number;
  valPerClass: number;
  version: 1;
}

/** Pixels of image i of class c: a colour gradient per class, a stripe pattern per image, xorshift noise. */
function syntheticJpegPixels(c: number, i: number, w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  let s = (Math.imul(c * 7919 + i, 2654435761) >>> 0) || 1;
  const noise = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) & 31);
  const period = 3 + (i % 11);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 3 * (y * w + x);
      const stripe = ((x + y * (i % 3)) % period) < period / 2 ? 40 : 0;
      px[o] = ((c * 37 + x * 3) & 255) ^ stripe;
      px[o + 1] = ((c * 91 + y * 4) & 127) + noise();
      px[o + 2] = ((x * y + i) & 255) >> 1;
    }
  }
  return px;
}

async function generateTree(dir: string, spec: TreeSpec, log: (m: string) => void): Promise<void> {
  const marker = join(dir, 'tree.json');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === JSON.stringify(spec)) return;
  rmSync(dir, { recursive: true, force: true });
  const jobs: Array<{ file: string; c: number; i: number }> = [];
  for (const [split, n] of [['train', spec.perClass], ['val', spec.valPerClass]] as const) {
    for (let c = 0; c < spec.classes; c++) {
      const cls = `n${String(c).padStart(8, '0')}`;
      mkdirSync(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) jobs.push({ file: join(dir, split, cls, `${cls}_${i}.JPEG`), c, i: split === 'train' ? i : spec.perClass + i });
    }
  }
  log(`generating ${jobs.length} JPEGs in ${dir} (once; kept for later runs)`);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) {
        const { file, c, i } = jobs[next++]!;
        const w = 40 + ((c * 13 + i * 7) % 40);
        const h = 32 + ((c * 5 + i * 11) % 32);
        await sharp(syntheticJpegPixels(c, i, w, h), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toFile(file);
      }
    }),
  );
  writeFileSync(marker, JSON.stringify(spec));
  log(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

type Side = { imagesPerSecond: number; cpuMsPerImage: number; peakRssMb: number | null; prepareSeconds?: number; workers?: number; peakImagesInFlight?: number } | string;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      dir: { type: 'string' },
      classes: { type: 'string' },
      'per-class': { type: 'string' },
      batches: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run bench:loader -- [--threads N] [--dir DIR] [--classes 100] [--per-class 500] [--batches 100] [--out FILE]\n' +
        '  --threads N    decode workers of the loader and threads of the engine (default: the number of CPUs)\n' +
        '  --dir DIR      the synthetic tree (default: <cache dir>/../bench-imagenet-<classes>x<per-class>; generated once)\n' +
        '  --batches B    timed batches of 128 per loader side (default 100)\n' +
        '  --out FILE     results JSON (default bench/results/loader-<date>-<commit>.json)\n' +
        'GNAS_NATIVE_JPEG=0 in the environment: sharp decodes every JPEG (the path of a machine without libjpeg)',
    );
    return;
  }
  const root = packageRoot();
  const threads = values.threads ? Number(values.threads) : Number(machine().cores);
  const spec: TreeSpec = { classes: Number(values.classes ?? 100), perClass: Number(values['per-class'] ?? 500), valPerClass: 5, version: 1 };
  for (const [k, v] of [['threads', threads], ['classes', spec.classes], ['per-class', spec.perClass]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k}: expected a positive integer, got ${v}`);
  }
  const dir = resolve(values.dir ?? join(defaultCacheDir(), '..', `bench-imagenet-${spec.classes}x${spec.perClass}`));
  const log = (m: string) => console.log(m);
  await generateTree(dir, spec, log);

  const native = nativeJpegDecoder();
  const jpegDecoder = native.library !== null ? `native (${native.library})` : `sharp (no native decoder: ${native.reason})`;
  const loadStart = loadavg();
  const here = fileURLToPath(new URL('.', import.meta.url));
  const cacheDir = mkdtempSync(join(tmpdir(), 'gnas-loader-cache-'));
  const args = (side: string) => [join(here, 'loader-side.js'), '--side', side, '--dir', dir, '--threads', String(threads), '--batches', values.batches ?? '100', '--cache-dir', cacheDir];
  const sides: Record<string, Side> = {};
  try {
    for (const side of ['engine', 'stream', 'cache', 'memory']) {
      log(`running side ${side} ...`);
      sides[side] = runSide<Side>(`side ${side}`, process.execPath, args(side));
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  const loadEnd = loadavg();

  const engine = sides['engine']!;
  const rate = (s: Side) => (typeof s === 'string' ? s : `${s.imagesPerSecond.toFixed(0)} img/s`);
  const rss = (s: Side) => (typeof s === 'string' || s.peakRssMb === null ? '-' : `${s.peakRssMb.toFixed(0)} MB`);
  const cpu = (s: Side) => (typeof s === 'string' ? '-' : `${s.cpuMsPerImage.toFixed(3)} ms`);
  const ratio = (s: Side) => (typeof s === 'string' || typeof engine === 'string' ? '-' : `${(s.imagesPerSecond / engine.imagesPerSecond).toFixed(2)}x`);
  const rows = [
    ['engine trainStep (W1, batch 128)', rate(engine), '1.00x', cpu(engine), rss(engine), ''],
    ['streaming loader (decode + augment)', rate(sides['stream']!), ratio(sides['stream']!), cpu(sides['stream']!), rss(sides['stream']!), ''],
    ['streaming loader from the tensor cache', rate(sides['cache']!), ratio(sides['cache']!), cpu(sides['cache']!), rss(sides['cache']!), typeof sides['cache'] === 'string' ? '' : `cache built in ${sides['cache']!.prepareSeconds?.toFixed(1)} s`],
    ['in-memory loader', rate(sides['memory']!), ratio(sides['memory']!), cpu(sides['memory']!), rss(sides['memory']!), typeof sides['memory'] === 'string' ? '' : `decoded whole in ${sides['memory']!.prepareSeconds?.toFixed(1)} s`],
  ];
  const head = ['row', 'images/s', 'vs engine', 'CPU per image', 'peak RSS', 'note'];
  const widths = [0, 1, 2, 3, 4].map((k) => Math.max(...rows.map((r) => r[k]!.length), head[k]!.length));
  const line = (r: string[]) => r.map((c, k) => (k < 5 ? c.padEnd(widths[k]!) : c)).join('  ');
  console.log(`\n${spec.classes * spec.perClass} training JPEGs in ${dir}; ${threads} thread(s): decode workers of each loader, threads of the engine`);
  console.log(`JPEG decoder: ${jpegDecoder}`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const stream = sides['stream']!;
  if (typeof stream !== 'string' && typeof engine !== 'string') {
    const fast = stream.imagesPerSecond >= engine.imagesPerSecond;
    const small = stream.peakRssMb !== null && stream.peakRssMb < 1000;
    console.log(`bar (streaming loader >= engine, peak RSS < 1 GB): ${fast && small ? 'met' : 'NOT met'} (${(stream.imagesPerSecond / engine.imagesPerSecond).toFixed(2)}x, ${rss(stream)}); images in flight at most ${stream.peakImagesInFlight}`);
    console.log(`CPU time per image: the loader ${stream.cpuMsPerImage.toFixed(3)} ms, the engine ${engine.cpuMsPerImage.toFixed(3)} ms (${(engine.cpuMsPerImage / stream.cpuMsPerImage).toFixed(2)}x): the ratio that holds on an idle machine if both scale with their threads`);
  }
  console.log(`load average (1 min): ${loadStart[0]!.toFixed(2)} at start, ${loadEnd[0]!.toFixed(2)} at end${loadStart[0]! > 1.5 || loadEnd[0]! > 1.5 ? ' (measured under load: other work shared the cores)' : ''}`);

  const result = { bench: 'loader', tree: { dir, ...spec }, threads, jpegDecoder, commit: commit(root), date: new Date().toISOString(), machine: machine(), loadavg: { start: loadStart, end: loadEnd }, sides };
  const outFile = values.out ?? join(root, 'bench', 'results', `loader-${result.date.replace(/[:.]/g, '-')}-${result.commit}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 1) + '\n');
  console.log(`results written to ${outFile}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
