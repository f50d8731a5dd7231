// The engine's side of `npm run bench`, run by src/bench/run-bench.ts as a child process of its own
// (a fresh Node process that loads only the engine), on a workload folder (src/bench/workload.ts).
// Prints one JSON object on stdout:
//   train      trainStep images/s on the W1 path, batch 128, cycling the workload's 4 batches
//   scoreFwd   evaluate([path]) images/s, BN from the batch (GreedyNAS scoring), batch 128
//   evalFwd    predict(path) images/s, BN running statistics (eval mode), batch 128
//   round      the workload's greedy rounds (m paths x 1,000 images each): chunk probe, then rounds
//              at the best chunk, trie-batched (one evaluate of all m paths per chunk) and one
//              path per call
//   bf16       the round and the scoring forward again with bfloat16 scoring (scoreMath 'bf16', the
//              same weights), then the timed rounds again both ways in alternation (pairs: the
//              bar's ratio), or why not (no AVX512-BF16); and the fidelity check
//              (src/bench/score-fidelity.ts): FP32 vs bfloat16 losses of random paths, Kendall tau
//   memory     VmHWM (peak RSS) after a reset at start, after the training phase, after the FP32
//              rounds (the peer's whole run) and at the end (the bfloat16 supernet's rounds too)
// Then writes, for the onnxruntime peer, the W1 path exported with BN folded (w1.onnx), the
// normalised NCHW input of train batch 0 (w1.input-nchw.f32) and our eval-mode logits of it
// (w1.logits-ours.f32).
//
//   node dist/bench/ours-w1.js --workload DIR --threads N [--quick]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { exportOnnx } from '../export/onnx.js';
import { nhwcToNchw } from '../export/parity.js';
import { Supernet } from '../native/engine.js';
import { resolveSpace } from '../space/resolve.js';
import type { SpaceFile } from '../space/types.js';
import { copyWeights, scoreFidelity } from './score-fidelity.js';
import type { OursSide } from './table.js';
import { latencyMs, medianMs, timeRoundPairs, timeRounds } from './timing.js';
import { peakRssMb, readWorkload, resetPeakRss, type PathScore } from './workload.js';

async function main(): Promise<void> {
  const hwmAtStart = peakRssMb();
  const reset = resetPeakRss();
  const { values } = parseArgs({ options: { workload: { type: 'string' }, threads: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  if (!values.workload || !values.threads) throw new Error('usage: node dist/bench/ours-w1.js --workload DIR --threads N [--quick]');
  const threads = Number(values.threads);
  const quick = values.quick ?? false;
  const w = readWorkload(values.workload);
  const space = resolveSpace(JSON.parse(readFileSync(w.space, 'utf8')) as SpaceFile);
  const pixels = w.image.height * w.image.width * w.image.channels;
  // FP32 scoring for every row but the bfloat16 ones (which use netBf16 below)
  const net = await Supernet.create(space, { threads, seed: 0, scoreMath: 'fp32' });
  const rssAfterLoad = process.memoryUsage().rss / 2 ** 20;
  const B = w.train.batch;
  const nb = w.train.batches;
  const steps = quick ? 3 : 12;
  const arch = w.arch;
  const log = (m: string) => process.stderr.write(`[ours-w1] ${m}\n`);

  let i = 0;
  // median and fastest step: the FMA peak the table divides by is a best-of reading, so on a shared
  // machine the fastest step is its like-for-like counterpart (the table shows both)
  const trainLatency = await latencyMs('trainStep', () => net.trainStep(arch, w.trainImages[i % nb]!, w.trainLabels[i++ % nb]!, { lr: 0.05 }), steps, 2);
  const trainMs = trainLatency.median;
  const peakAfterTrain = peakRssMb();
  log(`trainStep ${((B * 1000) / trainMs).toFixed(1)} images/s`);
  const scoreMs = await medianMs('evaluate', () => net.evaluate([arch], w.trainImages[i % nb]!, w.trainLabels[i++ % nb]!, { bn: 'batch' }), steps, 2);
  const evalMs = await medianMs('predict', () => net.predict(arch, w.trainImages[i++ % nb]!, { bn: 'running' }), steps, 2);

  // Greedy round: every path of a round scored on all score images, in chunks of c images (BN
  // statistics per chunk; c = 1,000 is one batch, the trainer's semantics).
  const chunkedOn = async (on: Supernet, paths: number[][], c: number): Promise<PathScore[]> => {
    const sums = paths.map(() => ({ loss: 0, correct: 0, count: 0 }));
    for (let lo = 0; lo < w.score.count; lo += c) {
      const hi = Math.min(w.score.count, lo + c);
      const r = await on.evaluate(paths, w.scoreImages.subarray(lo * pixels, hi * pixels), w.scoreLabels.subarray(lo, hi), { bn: 'batch' });
      r.forEach((s, k) => {
        sums[k]!.loss += s.loss * s.count;
        sums[k]!.correct += s.correct;
        sums[k]!.count += s.count;
      });
    }
    return sums.map((s) => ({ loss: s.loss / s.count, accuracy: s.correct / s.count }));
  };
  const chunked = (paths: number[][], c: number) => chunkedOn(net, paths, c);
  const probeChunks = async (on: Supernet): Promise<Record<string, number>> => {
    const probe: Record<string, number> = {};
    for (const c of w.chunks) {
      await chunkedOn(on, [rounds[0]![0]!], c); // warm-up at this shape
      const t0 = performance.now();
      await chunkedOn(on, [rounds[0]![0]!], c);
      probe[c] = (performance.now() - t0) / 1000;
    }
    return probe;
  };
  const fastest = (probe: Record<string, number>) => Number(Object.entries(probe).sort((a, b) => a[1] - b[1])[0]![0]);
  const oneByOne = async (paths: number[][], c: number): Promise<PathScore[]> => {
    const out: PathScore[] = [];
    for (const p of paths) out.push(...(await chunked([p], c)));
    return out;
  };
  const rounds = w.rounds.paths;
  const probe = await probeChunks(net);
  const best = fastest(probe);
  log(`chunk probe (s per path over ${w.score.count} images): ${JSON.stringify(probe)}; best ${best}`);
  const batched = await timeRounds(rounds, (p) => chunked(p, best), true);
  log(`round (trie-batched, chunk ${best}): ${batched.seconds.toFixed(3)} s`);
  const single = await timeRounds(rounds, (p) => oneByOne(p, best), false);
  log(`round (one path per call, chunk ${best}): ${single.seconds.toFixed(3)} s`);
  // the peak over the same work as the PyTorch peer's (training, then the FP32 rounds); the bfloat16
  // supernet below is a second model in this process, which the peer does not hold
  const peakEnd = peakRssMb();

  // bfloat16 scoring: the same weights in a supernet that scores in bfloat16 (scoreMath 'bf16')
  const netBf16 = await Supernet.create(space, { threads, seed: 0, scoreMath: 'bf16' });
  copyWeights(net, netBf16);
  let bf16: OursSide['bf16'];
  if (netBf16.scoreMath !== 'bf16') {
    bf16 = 'skipped: this CPU has no AVX512-BF16 (or the backend no fast bfloat16): scoring runs in FP32 here';
  } else {
    const ms = await medianMs('evaluate bf16', () => netBf16.evaluate([arch], w.trainImages[i % nb]!, w.trainLabels[i++ % nb]!, { bn: 'batch' }), steps, 2);
    const probeB = await probeChunks(netBf16);
    const bestB = fastest(probeB);
    const batchedB = await timeRounds(rounds, (p) => chunkedOn(netBf16, p, bestB), true);
    log(`round (bfloat16 scoring, trie-batched, chunk ${bestB}): ${batchedB.seconds.toFixed(3)} s`);
    // the bar's ratio from rounds timed both ways back to back (the two rows above are minutes
    // apart); 8 pairs: at 5e58d26 the 4 pairs' ratios spread 1.62-1.81 around the 1.7x bar, which
    // left the median of 4 a coin flip there (the eval-mode row's reasoning, run-bench.ts); ~20 s more
    const pairs = await timeRoundPairs(rounds, (p) => chunked(p, best), (p) => chunkedOn(netBf16, p, bestB), quick ? 1 : 4);
    log(`rounds in alternation, fp32 ${pairs.fp32.map((v) => v.toFixed(3)).join(' ')} s, bfloat16 ${pairs.bf16.map((v) => v.toFixed(3)).join(' ')} s`);
    bf16 = { scoreFwd: { imagesPerS: (B * 1000) / ms }, round: { chunkProbeSeconds: probeB, chunk: bestB, batched: batchedB, pairs } };
  }
  const peakWithBf16 = peakRssMb();

  // For the onnxruntime peer: the path exported by our exporter (BN folded), its input, our logits.
  const model = exportOnnx(space, arch, (name) => net.getTensor(name), { foldBn: true });
  writeFileSync(join(w.dir, 'w1.onnx'), model);
  const x = nhwcToNchw(net.normalize(w.trainImages[0]!), B, w.image.height, w.image.width, w.image.channels);
  writeFileSync(join(w.dir, 'w1.input-nchw.f32'), new Uint8Array(x.buffer));
  const logits = await net.predict(arch, w.trainImages[0]!, { bn: 'running' });
  writeFileSync(join(w.dir, 'w1.logits-ours.f32'), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));

  // Last (it trains `net` further): FP32 vs bfloat16 ranking of random paths on a trained supernet.
  const fidelity =
    typeof bf16 === 'string'
      ? bf16
      : await scoreFidelity(net, netBf16, quick ? { trainSteps: 40, paths: 20, images: 500 } : { trainSteps: 300, paths: 100, images: 1000 }, B);
  if (typeof fidelity !== 'string') log(`fidelity: Kendall tau ${fidelity.kendallTau.toFixed(4)} over ${fidelity.paths} paths (loss spread ${fidelity.lossSpread.toFixed(3)})`);

  const result = {
    side: 'greedynas',
    backend: net.backend,
    threads,
    batch: B,
    train: { imagesPerS: (B * 1000) / trainMs, stepMs: trainMs, fastestStepMs: trainLatency.fastest, steps },
    scoreFwd: { imagesPerS: (B * 1000) / scoreMs, bn: 'batch statistics (evaluate, one path)' },
    evalFwd: { imagesPerS: (B * 1000) / evalMs, bn: 'running statistics (predict)' },
    round: {
      chunkProbeSeconds: probe,
      chunk: best,
      batched,
      oneByOne: single,
    },
    bf16,
    fidelity,
    memoryMb: { vmhwmAtStart: hwmAtStart, peakReset: reset, rssAfterLoad, peakAfterTraining: peakAfterTrain, peakEnd, peakWithBf16 },
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  await net.dispose();
  await netBf16.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
