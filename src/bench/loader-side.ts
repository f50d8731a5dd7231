// One measured side of `npm run bench:loader` (src/bench/loader-bench.ts), run in a fresh process
// of its own so that its peak RSS (VmHWM after a reset at start) is its own. Prints one JSON
// object on stdout:
//   --side stream  StreamingLoader over the synthetic tree's train/ (decode + resize to W1's input
//                  in the worker threads, W1's training augmentation), batch 128: images/s
//   --side cache   the same from the decoded-tensor cache (built first, in --cache-dir; the build
//                  is timed apart)
//   --side memory  the in-memory path: the folder decoded whole (timed apart), then BatchLoader
//   --side engine  trainStep images/s of the W1 path at batch 128 (the rate a loader must feed)
// Every side also reports CPU milliseconds per image (all its threads): on a machine shared with
// other work the wall-clock rates fall with the load, the CPU time per image much less.
//
//   node dist/bench/loader-side.js --side S --dir TREE --threads N [--batches B] [--cache-dir D]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { BatchLoader, type TrainingLoader } from '../data/loader.js';
import { defaultAugmentation } from '../data/augment.js';
import { DecodePool } from '../data/decode-pool.js';
import { attachStreamCache, openImageFolderStream } from '../data/folder-stream.js';
import { loadImageFolder } from '../data/image-folder.js';
import { StreamingLoader } from '../data/stream-loader.js';
import { Supernet } from '../native/engine.js';
import { resolveSpace } from '../space/resolve.js';
import type { SpaceFile } from '../space/types.js';
import { packageRoot } from '../util/package-root.js';
import { medianMs } from './timing.js';
import { peakRssMb, resetPeakRss, synthetic } from './workload.js';

const BATCH = 128;

/** Images/s of `loader` over `batches` batches after 3 warm-up ones (the consumer does nothing else). */
async function throughput(loader: TrainingLoader, batches: number): Promise<{ imagesPerSecond: number; seconds: number; images: number; cpuMsPerImage: number }> {
  for (let i = 0; i < 3; i++) await loader.next();
  let images = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) images += (await loader.next()).count;
  const seconds = (performance.now() - t0) / 1000;
  return { imagesPerSecond: images / seconds, seconds, images, cpuMsPerImage: cpuMs(process.cpuUsage(cpu0)) / images };
}

/** CPU milliseconds (user + system, every thread of the process) of a process.cpuUsage() difference. */
function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  const reset = resetPeakRss();
  const { values } = parseArgs({
    options: { side: { type: 'string' }, dir: { type: 'string' }, threads: { type: 'string' }, batches: { type: 'string' }, 'cache-dir': { type: 'string' } },
  });
  const threads = Number(values.threads);
  const batches = Number(values.batches ?? 100);
  const log = (m: string) => process.stderr.write(`[loader-side ${values.side}] ${m}\n`);
  const root = packageRoot();
  const space = resolveSpace(JSON.parse(readFileSync(join(root, 'bench', 'w1.space.json'), 'utf8')) as SpaceFile);
  const { height, width, channels } = space.input;
  const decode = { size: { height, width }, channels: (channels === 1 ? 1 : 3) as 1 | 3 };
  const augment = defaultAugmentation(space.input, { flip: true });
  const out: Record<string, unknown> = { side: values.side, threads, batch: BATCH, input: `${height}x${width}x${channels}`, augment, peakReset: reset };

  if (values.side === 'engine') {
    const arch = (JSON.parse(readFileSync(join(root, 'bench', 'w1.path.json'), 'utf8')) as { arch: number[] }).arch;
    const net = await Supernet.create(space, { threads, seed: 0 });
    const px = height * width * channels;
    const data = Array.from({ length: 4 }, (_, i) => synthetic(BATCH, px, space.classes, 11 + i));
    let i = 0;
    const cpu0 = process.cpuUsage();
    const ms = await medianMs('trainStep', () => net.trainStep(arch, data[i % 4]!.images, data[i++ % 4]!.labels, { lr: 0.05 }), 12, 2);
    out.imagesPerSecond = (BATCH * 1000) / ms;
    out.cpuMsPerImage = cpuMs(process.cpuUsage(cpu0)) / (i * BATCH);
    net.dispose();
  } else {
    if (!values.dir) throw new Error('--dir is required');
    const trainDir = join(values.dir, 'train');
    const t0 = performance.now();
    let loader: TrainingLoader;
    let pool: DecodePool | undefined;
    if (values.side === 'memory') {
      const r = await loadImageFolder(trainDir, { ...decode, cacheDir: false, concurrency: 2 * threads });
      out.prepareSeconds = (performance.now() - t0) / 1000;
      loader = new BatchLoader(r.dataset, { batchSize: BATCH, seed: 1, augment });
    } else {
      let stream = await openImageFolderStream(trainDir, decode);
      out.scanSeconds = (performance.now() - t0) / 1000;
      pool = new DecodePool(threads);
      if (values.side === 'cache') {
        if (!values['cache-dir']) throw new Error('--cache-dir is required');
        const t1 = performance.now();
        const c = await attachStreamCache(stream, pool, values['cache-dir']);
        out.prepareSeconds = (performance.now() - t1) / 1000;
        out.cacheStatus = c.status;
        stream = c.stream;
      } else if (values.side !== 'stream') {
        throw new Error(`--side: expected stream, cache, memory or engine, got ${String(values.side)}`);
      }
      loader = new StreamingLoader(stream, { batchSize: BATCH, seed: 1, augment, pool, prefetchBatches: 2 });
      out.workers = pool.size;
    }
    log(`loader ready (${loader.size} images); timing ${batches} batches`);
    Object.assign(out, await throughput(loader, batches));
    if (loader instanceof StreamingLoader) out.peakImagesInFlight = loader.peakImagesInFlight;
    await loader.close();
    await pool?.close();
  }
  out.peakRssMb = peakRssMb();
  console.log(JSON.stringify(out));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
