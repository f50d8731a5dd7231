// `npm run bench`: throughput of the native engine on workload W1 (bench/w1.space.json and
// bench/w1.path.json), side by side with the PyTorch peer (bench/peers/torch_w1.py, Debian's
// python3-torch, channels-last, same network, same threads), as ratios, plus per-op GFLOP/s
// against the machine's peak (the C++ gnas_op_bench) and peak resident memory of each side.
// Results go to bench/results/<timestamp>-<commit>.json with the machine and commit beside them.
//
// Timing uses tinybench (maintained, async-aware; benchmark.js has not changed since 2017): each
// task runs its warm-up iterations, then timed iterations; we report the median.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';

import { Supernet } from '../native/engine.js';
import { formatTable } from '../report/summary.js';
import { archFlops } from '../space/cost.js';
import { resolveSpace } from '../space/resolve.js';
import type { SpaceFile } from '../space/types.js';
import { packageRoot } from '../util/package-root.js';

interface PeerResult {
  torch: string;
  train: { images_per_s: number };
  eval: { images_per_s: number };
  round: { seconds: number };
  memory_mb: { rss_after_import_torch: number; maxrss_after_training: number };
}

const mb = (bytes: number) => bytes / (1024 * 1024);

function machine(): Record<string, unknown> {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
}

function commit(root: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() ? '-dirty' : '';
    return sha + dirty;
  } catch {
    return 'unknown';
  }
}

/** Deterministic pseudo-random bytes / labels (the content does not matter for speed). */
function syntheticBatch(n: number, pixels: number, classes: number, seed: number): { images: Uint8Array; labels: Int32Array } {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
  const images = new Uint8Array(n * pixels);
  for (let i = 0; i < images.length; i++) images[i] = next() & 255;
  const labels = Int32Array.from({ length: n }, () => next() % classes);
  return { images, labels };
}

async function median(name: string, fn: () => Promise<unknown>, iterations: number, warmup: number): Promise<number> {
  const bench = new Bench({ name, iterations, warmupIterations: warmup, time: 0, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result as { state: string; latency?: { p50: number }; error?: unknown } | undefined;
  if (!r || r.state !== 'completed' || !r.latency) throw new Error(`benchmark ${name} failed: ${String(r?.error ?? r?.state)}`);
  return r.latency.p50; // ms
}

function runPeer(root: string, threads: number, quick: boolean): PeerResult | string {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return `skipped: ${python} not found (install Debian's python3-torch)`;
  const args = [join(root, 'bench', 'peers', 'torch_w1.py'), '--threads', String(threads)];
  if (quick) args.push('--quick');
  const r = spawnSync(python, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status === 3) return 'skipped: PyTorch is not installed (apt-get install -y python3-torch)';
  if (r.status !== 0) return `failed with exit code ${r.status}`;
  return JSON.parse(r.stdout) as PeerResult;
}

function runOpBench(root: string, threads: number): Array<Record<string, unknown>> | string {
  const exe = [join(root, 'build', 'gnas_op_bench'), join(root, 'build', 'Release', 'gnas_op_bench')].find((p) => existsSync(p));
  if (!exe) return 'skipped: build/gnas_op_bench not built';
  const r = spawnSync(exe, ['--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) return `failed with exit code ${r.status}`;
  return r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--threads N] [--quick] [--no-peer] [--out FILE]');
    return;
  }
  const root = packageRoot();
  const threads = values.threads ? Number(values.threads) : cpus().length;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads: expected a positive integer, got ${values.threads}`);
  const quick = values.quick ?? false;
  const spaceFile = JSON.parse(readFileSync(join(root, 'bench', 'w1.space.json'), 'utf8')) as SpaceFile;
  const arch = (JSON.parse(readFileSync(join(root, 'bench', 'w1.path.json'), 'utf8')) as { arch: number[] }).arch;
  const space = resolveSpace(spaceFile);
  const pixels = space.input.height * space.input.width * space.input.channels;
  const B = 128;
  const rssBefore = mb(process.memoryUsage().rss);

  const net = await Supernet.create(space, { threads, seed: 0 });
  console.log(`W1 on ${machine().cpu as string}, ${threads} thread(s), backend ${net.backend}, batch ${B}`);
  const train = syntheticBatch(B, pixels, space.classes, 1);
  const steps = quick ? 3 : 12;
  const trainMs = await median('trainStep', () => net.trainStep(arch, train.images, train.labels, { lr: 0.05 }), steps, 2);
  const maxRssTrain = process.resourceUsage().maxRSS / 1024; // KiB -> MiB
  const evalMs = await median('evaluate', () => net.evaluate([arch], train.images, train.labels, { bn: 'batch' }), steps, 2);

  // GreedyNAS round: m = 10 random paths, 1,000 held-out images, loss of each path.
  const score = syntheticBatch(1000, pixels, space.classes, 2);
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0), seed % n);
  const paths = Array.from({ length: 10 }, () => space.layers.map(() => rand(space.opNames.length)));
  const rounds = quick ? 1 : 3;
  const roundBatchedMs = await median('round (batched)', () => net.evaluate(paths, score.images, score.labels, { bn: 'batch' }), rounds, 1);
  const roundOneByOneMs = await median(
    'round (one by one)',
    async () => {
      for (const p of paths) await net.evaluate([p], score.images, score.labels, { bn: 'batch' });
    },
    rounds,
    1,
  );

  const ours = {
    backend: net.backend,
    trainImagesPerS: (B * 1000) / trainMs,
    evalImagesPerS: (B * 1000) / evalMs,
    roundSecondsBatched: roundBatchedMs / 1000,
    roundSecondsOneByOne: roundOneByOneMs / 1000,
    memoryMb: { rssAfterLoad: rssBefore, maxRssAfterTraining: maxRssTrain },
  };

  const ops = runOpBench(root, threads);
  // Work per image: a forward is the path's multiply-adds (2 FLOPs each); a training step is
  // about 3 forwards (forward, input gradients, weight gradients).
  const macs = archFlops(space, arch);
  const peak = typeof ops === 'string' ? undefined : (ops.find((o) => typeof o.peak_gflops === 'number')?.peak_gflops as number | undefined);
  const trainGflops = (ours.trainImagesPerS * 3 * 2 * macs) / 1e9;
  const evalGflops = (ours.evalImagesPerS * 2 * macs) / 1e9;
  const peer = values['no-peer'] ? 'skipped: --no-peer' : runPeer(root, threads, quick);

  const rows: string[][] = [];
  const fmt = (v: number, d = 1) => v.toFixed(d);
  const ratio = (a: number, b: number) => (b > 0 ? `${fmt(a / b, 2)}x` : '-');
  const p = typeof peer === 'string' ? undefined : peer;
  rows.push(['trainStep images/s', fmt(ours.trainImagesPerS), p ? fmt(p.train.images_per_s) : '-', p ? ratio(ours.trainImagesPerS, p.train.images_per_s) : '-']);
  rows.push(['evaluate images/s', fmt(ours.evalImagesPerS), p ? fmt(p.eval.images_per_s) : '-', p ? ratio(ours.evalImagesPerS, p.eval.images_per_s) : '-']);
  rows.push(['round 10x1000 s (ours batched)', fmt(ours.roundSecondsBatched, 3), p ? fmt(p.round.seconds, 3) : '-', p ? ratio(p.round.seconds, ours.roundSecondsBatched) : '-']);
  rows.push(['round 10x1000 s (ours one by one)', fmt(ours.roundSecondsOneByOne, 3), p ? fmt(p.round.seconds, 3) : '-', p ? ratio(p.round.seconds, ours.roundSecondsOneByOne) : '-']);
  rows.push(['peak RSS of training MB', fmt(ours.memoryMb.maxRssAfterTraining), p ? fmt(p.memory_mb.maxrss_after_training) : '-', p ? ratio(p.memory_mb.maxrss_after_training, ours.memoryMb.maxRssAfterTraining) + ' less' : '-']);
  console.log('\n' + formatTable(rows, ['figure', 'ours', 'pytorch', 'ours/pytorch (speed-up)']));
  console.log(
    `\nW1 path: ${(macs / 1e6).toFixed(1)}M multiply-adds per image; trainStep ${trainGflops.toFixed(1)} GFLOP/s, evaluate ${evalGflops.toFixed(1)} GFLOP/s` +
      (peak ? ` (machine FP32 peak ${peak.toFixed(0)} GFLOP/s measured by gnas_op_bench: ${((100 * trainGflops) / peak).toFixed(0)}% and ${((100 * evalGflops) / peak).toFixed(0)}%)` : ''),
  );
  if (typeof peer === 'string') console.log(`pytorch peer: ${peer}`);
  if (typeof ops === 'string') console.log(`per-op benchmark: ${ops}`);
  else {
    console.log('\nper-op (cpu backend, W1 shapes, batch 128):');
    for (const o of ops) console.log('  ' + JSON.stringify(o));
  }

  const result = { workload: 'W1', batch: B, threads, arch, macsPerImage: macs, gflops: { train: trainGflops, eval: evalGflops, peak: peak ?? null }, commit: commit(root), date: new Date().toISOString(), machine: machine(), ours, peer, ops };
  const outFile = values.out ?? join(root, 'bench', 'results', `${result.date.replace(/[:.]/g, '-')}-${result.commit}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 1) + '\n');
  console.log(`\nresults written to ${outFile}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
