// The table of `npm run bench` (src/bench/run-bench.ts): one row per figure, each row labelled with
// the work it measures, the engine's value, the peer's value and the ratio; speeds carry their
// GFLOP/s as a share of the FMA peak measured in the same run.
import { formatTable } from '../report/summary.js';
import { archFlops } from '../space/cost.js';
import { median } from '../profile/latency-table.js';
import type { ResolvedSpace } from '../space/types.js';
import type { FidelityResult } from './score-fidelity.js';
import type { RoundPairs, RoundTiming } from './timing.js';
import type { Workload } from './workload.js';

export interface OursSide {
  backend: string;
  threads: number;
  batch: number;
  train: { imagesPerS: number; stepMs: number; fastestStepMs?: number };
  scoreFwd: { imagesPerS: number };
  evalFwd: { imagesPerS: number };
  round: { chunkProbeSeconds: Record<string, number>; chunk: number; batched: RoundTiming; oneByOne: RoundTiming };
  /** bfloat16 scoring (scoreMath 'bf16'), or why it was skipped. */
  bf16:
    | {
        scoreFwd: { imagesPerS: number };
        /** pairs: the FP32 and bfloat16 rounds timed in alternation (timeRoundPairs); older results lack it */
        round: { chunkProbeSeconds: Record<string, number>; chunk: number; batched: RoundTiming; pairs?: RoundPairs };
      }
    | string;
  fidelity: FidelityResult | string;
  memoryMb: {
    vmhwmAtStart: number | null;
    peakReset: boolean;
    rssAfterLoad: number;
    peakAfterTraining: number | null;
    /** after the FP32 rounds: the same work as the peer's whole run */
    peakEnd: number | null;
    /** at the end, the second (bfloat16) supernet and its rounds included; older results lack it */
    peakWithBf16?: number | null;
  };
}

export interface TorchSide {
  torch: string;
  train: { images_per_s: number };
  eval: { images_per_s: number };
  round: { seconds: number; chunk: number; chunk_probe_seconds: Record<string, number>; cold_seconds: number; mean_loss: number };
  memory_mb: { vmhwm_at_start: number; vmhwm_reset: boolean; rss_after_import_torch: number; peak_after_training: number; peak_end: number };
}

export type OrtSide =
  | { skipped: string }
  | { version: string | null; evalFwd: { imagesPerS: number }; parity: { maxAbsDiff: number; maxRelDiff: number; argmaxAgreement: number } };

/**
 * The eval-mode forward again in alternating fresh processes (src/bench/run-bench.ts): per round
 * one run of each side (src/bench/eval-w1.ts, src/bench/ort-w1.ts), the first side alternating
 * between rounds; images/s per run, in round order.
 */
export interface EvalPairs {
  ours: number[];
  onnxruntime: number[];
}

/**
 * What a row read from alternating rounds reports: each side's median run and the median of the
 * per-round ratios a / b (not the ratio of the medians: a round's two runs see nearly the same
 * machine, so its ratio cancels the drift between rounds). `what` names the runs in the error.
 */
export function pairedSummary(a: number[], b: number[], what: [string, string]): { a: number; b: number; ratio: number; ratios: number[] } {
  if (a.length === 0 || a.length !== b.length) throw new Error(`alternating rounds: ${a.length} runs of ${what[0]} against ${b.length} of ${what[1]}`);
  const ratios = a.map((v, k) => v / b[k]!);
  return { a: median(a), b: median(b), ratio: median(ratios), ratios };
}

/** The eval-mode row's rounds: images/s, so ours / onnxruntime > 1 is ours faster. */
export function evalPairsSummary(p: EvalPairs): { ours: number; onnxruntime: number; ratio: number; ratios: number[] } {
  const s = pairedSummary(p.ours, p.onnxruntime, ['ours', 'onnxruntime']);
  return { ours: s.a, onnxruntime: s.b, ratio: s.ratio, ratios: s.ratios };
}

/**
 * Whether a FP32 row reads above the measured FMA peak, which only happens when every peak probe
 * read low. The bfloat16 rows (benchTable's keys ending in 'Bf16') are left out: their
 * instructions do two multiply-adds per lane, so they may legitimately exceed the FP32 peak.
 */
export function fp32RowsOverPeak(gflops: Record<string, number | null>, peak: number): boolean {
  return Object.entries(gflops).some(([key, g]) => !key.endsWith('Bf16') && g !== null && g > peak);
}

/** The bfloat16 round row's rounds: seconds, so fp32 / bf16 > 1 is bfloat16 scoring faster. */
export function roundPairsSummary(p: RoundPairs): { fp32: number; bf16: number; ratio: number; ratios: number[] } {
  const s = pairedSummary(p.fp32, p.bf16, ['fp32', 'bf16']);
  return { fp32: s.a, bf16: s.b, ratio: s.ratio, ratios: s.ratios };
}

export interface OpBench {
  peakGflops: number;
  /** every reading of the FMA peak in the run (before and after the sides); peakGflops is the best */
  peakReadings?: number[];
  /** memory bandwidth of the same threads (gnas_op_bench's scale-copy), GB/s read + written */
  streamGbps: number | null;
  /** the same copy with non-temporal stores (no read for ownership); the op rows' x_memory_limit uses the better of the two */
  streamNtGbps?: number | null;
  /** operand size above which the CPU backend streams an op's output past the caches (last-level cache size, or GNAS_CPU_STREAM_MIN_BYTES) */
  streamMinBytes?: number | null;
  isa: string;
  threads: number;
  ops: Array<Record<string, unknown>>;
}

const fmt = (v: number, d = 1) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** The table, the notes under it, and every row's GFLOP/s (for the results JSON). */
export function benchTable(
  space: ResolvedSpace,
  w: Workload,
  threads: number,
  ours: OursSide,
  torch: TorchSide | string,
  ort: OrtSide | string,
  ops: OpBench | string,
  pairs: EvalPairs | string | null = null,
): { table: string; notes: string[]; gflops: Record<string, number | null> } {
  const peak = typeof ops === 'string' ? null : ops.peakGflops;
  const t = typeof torch === 'string' ? null : torch;
  const o = typeof ort === 'string' || 'skipped' in ort ? null : ort;
  const macs = archFlops(space, w.arch);
  const B = w.train.batch;
  const n = w.score.count;
  const m = w.rounds.m;
  // FLOPs of a round: 2 per multiply-add of each path over every scoring image (mean over the timed rounds)
  const timed = w.rounds.paths.slice(1);
  const roundFlops = timed.reduce((a, paths) => a + paths.reduce((b, p) => b + 2 * archFlops(space, p) * n, 0), 0) / timed.length;
  const probeFlops = 2 * archFlops(space, w.rounds.paths[0]![0]!) * n;
  const gflops: Record<string, number | null> = {};
  const speed = (key: string, flopsPerUnit: number, perS: number | undefined): string => {
    if (perS === undefined) return '-';
    const g = (flopsPerUnit * perS) / 1e9;
    gflops[key] = g;
    return peak ? `${((100 * g) / peak).toFixed(0)}%` : '-';
  };
  // a / b as 'N.NNx faster' (or 'less'); below 1, the inverse as 'slower' (or 'more')
  const x = (a: number, b: number, word: 'faster' | 'less') => (a >= b ? `${fmt(a / b, 2)}x ${word}` : `${fmt(b / a, 2)}x ${word === 'faster' ? 'slower' : 'more'}`);
  const rows: string[][] = [];
  const tname = t ? `pytorch ${t.torch}` : 'pytorch';
  const oname = o ? `onnxruntime ${o.version ?? ''}`.trim() : 'onnxruntime';

  // throughput rows: [figure, ours, ours % peak, peer, peer value, peer % peak, ratio]
  const thr = (figure: string, key: string, flops: number, a: number, peer: string, b: number | undefined) =>
    rows.push([figure, fmt(a), speed(`ours.${key}`, flops, a), peer, b === undefined ? '-' : fmt(b), speed(`${peer.split(' ')[0]}.${key}`, flops, b), b === undefined ? '-' : x(a, b, 'faster')]);
  thr(`training step, batch ${B}, images/s`, 'train', 3 * 2 * macs, ours.train.imagesPerS, tname, t?.train.images_per_s);
  const fastestStep = ours.train.fastestStepMs;
  if (fastestStep !== undefined)
    rows.push([`training step, fastest of the timed steps, images/s`, fmt((B * 1000) / fastestStep), speed('ours.trainFastest', 3 * 2 * macs, (B * 1000) / fastestStep), '', '', '', '']);
  thr(`scoring forward (BN from the batch), batch ${B}, images/s`, 'scoreFwd', 2 * macs, ours.scoreFwd.imagesPerS, tname, t?.eval.images_per_s);
  // the eval-mode row: from the alternating rounds when they ran (each side's median run, and the
  // median of the per-round ratios, which a drift of the machine's speed between rounds cancels)
  const p = typeof pairs === 'string' || pairs === null ? null : pairs;
  const ps = p ? evalPairsSummary(p) : null;  // throws on empty or unmatched runs
  if (p && ps && o) {
    const { ours: a, onnxruntime: b, ratio: r } = ps;
    rows.push([`eval-mode forward (BN running/folded), batch ${B}, images/s, ${p.ours.length} alternating round${p.ours.length === 1 ? '' : 's'}`, fmt(a), speed('ours.evalFwd', 2 * macs, a), oname, fmt(b), speed('onnxruntime.evalFwd', 2 * macs, b), x(r, 1, 'faster')]);
  } else {
    thr(`eval-mode forward (BN running/folded), batch ${B}, images/s`, 'evalFwd', 2 * macs, ours.evalFwd.imagesPerS, oname, o?.evalFwd.imagesPerS);
  }

  // seconds rows
  const sec = (figure: string, key: string, flops: number, a: number, b: number | undefined) =>
    rows.push([figure, fmt(a, 3), speed(`ours.${key}`, flops, 1 / a), tname, b === undefined ? '-' : fmt(b, 3), speed(`pytorch.${key}`, flops, b === undefined ? undefined : 1 / b), b === undefined ? '-' : x(b, a, 'faster')]);
  for (const c of w.chunks)
    sec(`one path over ${fmt(n, 0)} images in chunks of ${c}, s`, `probe${c}`, probeFlops, ours.round.chunkProbeSeconds[c]!, t?.round.chunk_probe_seconds[c]);
  const oc = ours.round.chunk;
  const tc = t ? `, pytorch ${t.round.chunk}` : '';
  sec(`greedy round, ${m} paths x ${fmt(n, 0)} images (ours trie-batched, chunk ${oc}${tc}), s`, 'roundBatched', roundFlops, ours.round.batched.seconds, t?.round.seconds);
  sec(`greedy round, ${m} paths x ${fmt(n, 0)} images (ours one path per call, chunk ${oc}${tc}), s`, 'roundOneByOne', roundFlops, ours.round.oneByOne.seconds, t?.round.seconds);

  // bfloat16 scoring rows: ours against ours in FP32 (the peer columns hold the FP32 figure)
  const bf = typeof ours.bf16 === 'string' ? null : ours.bf16;
  const rp = bf?.round.pairs ? roundPairsSummary(bf.round.pairs) : null;  // throws on empty or unmatched runs
  if (bf) {
    rows.push([`scoring forward, bfloat16, batch ${B}, images/s`, fmt(bf.scoreFwd.imagesPerS), speed('ours.scoreFwdBf16', 2 * macs, bf.scoreFwd.imagesPerS), 'ours fp32', fmt(ours.scoreFwd.imagesPerS), '', x(bf.scoreFwd.imagesPerS, ours.scoreFwd.imagesPerS, 'faster')]);
    if (rp) {
      const n = rp.ratios.length;
      rows.push([`greedy round, bfloat16 scoring (trie-batched, chunk ${bf.round.chunk}), s, ${n} round${n === 1 ? '' : 's'} alternating with fp32 (chunk ${ours.round.chunk}) (bar: >= 1.70x)`, fmt(rp.bf16, 3), speed('ours.roundBf16', roundFlops, 1 / rp.bf16), 'ours fp32', fmt(rp.fp32, 3), '', x(rp.ratio, 1, 'faster')]);
    } else {
      rows.push([`greedy round, bfloat16 scoring (trie-batched, chunk ${bf.round.chunk}), s (bar: >= 1.70x)`, fmt(bf.round.batched.seconds, 3), speed('ours.roundBf16', roundFlops, 1 / bf.round.batched.seconds), 'ours fp32', fmt(ours.round.batched.seconds, 3), '', x(ours.round.batched.seconds, bf.round.batched.seconds, 'faster')]);
    }
  }
  const fid = typeof ours.fidelity === 'string' ? null : ours.fidelity;
  if (fid) rows.push([`Kendall tau, fp32 vs bfloat16 losses of ${fid.paths} paths (bar: >= 0.95)`, fid.kendallTau.toFixed(4), '', '', '', '', '']);

  // memory rows
  const mem = (figure: string, a: number | null, b: number | undefined) =>
    rows.push([figure, a === null ? '-' : fmt(a), '', tname, b === undefined ? '-' : fmt(b), '', a === null || b === undefined ? '-' : x(b, a, 'less')]);
  mem('peak RSS from start to end of training, MB', ours.memoryMb.peakAfterTraining, t?.memory_mb.peak_after_training);
  mem('peak RSS of the whole run (FP32 rounds included), MB', ours.memoryMb.peakEnd, t?.memory_mb.peak_end);

  const table = formatTable(rows, ['figure', 'greedynas', '% peak', 'peer', 'peer value', '% peak', 'greedynas vs peer']);
  const readings = typeof ops === 'string' ? [] : (ops.peakReadings ?? []);
  const overPeak = peak !== null && fp32RowsOverPeak(gflops, peak);
  const peakNote =
    (readings.length > 1 ? `; the best of ${readings.length} probes: ${readings.map((r) => fmt(r)).join(' at the start, ')} at the end` : '') +
    (overPeak ? '; a row above 100% means every probe read low: other work shared the cores while they ran' : '');
  const notes = [
    `Every side: ${threads} thread(s), W1 space bench/w1.space.json; path bench/w1.path.json (${fmt(macs / 1e6)}M multiply-adds per image) for the batch-${B} rows,`,
    `  on the workload's ${w.train.batches} batches of ${B} images, cycled; the round rows score the workload's rounds (${m} uniform random paths each, seed ${w.rounds.seed}; round 0 is the warm-up,`,
    `  rounds 1..${w.rounds.paths.length - 1} timed, median) on the same ${fmt(n, 0)} scoring images; chunk = images per forward (BN statistics per chunk; ${fmt(n, 0)} = one batch, the trainer's semantics).`,
    `  Each side runs its rounds at the chunk it found fastest in the probe rows. pytorch scores one path per forward; ours trie-batched shares the activations of common path prefixes.`,
    peak
      ? `% peak: the row's GFLOP/s (2 FLOPs per multiply-add; a training step counts 3 forwards; a trie-batched round counts every path's full work) over the FMA peak measured in this run, ${fmt(peak)} GFLOP/s (gnas_op_bench, ${typeof ops === 'string' ? '' : `${ops.threads} thread(s), ${ops.isa}`}${peakNote}; the bfloat16 rows too, although a bfloat16 dot-product instruction does two multiply-adds per lane, so their own limit is twice that)` +
        (typeof ops !== 'string' && ops.streamGbps
          ? `; memory bandwidth measured the same way: ${fmt(ops.streamGbps)} GB/s read + written${ops.streamNtGbps ? ` (${fmt(ops.streamNtGbps)} GB/s with non-temporal stores; the per-op rows' x_memory_limit is a row's time over its compulsory bytes at the better of the two; x_memory_limit_adjacent the same at the bandwidth probed right before and after the row, which drifts less against the row than a probe at the start)` : ''}${ops.streamMinBytes != null ? `; outputs streamed past the caches where an op's operands exceed ${fmt(ops.streamMinBytes / 2 ** 20)} MB` : ''}.`
          : '.')
      : `% peak: not available (${String(ops)}).`,
    `Training step rows: the median of the timed steps (the figure compared with the peer), and the fastest, which is the like-for-like reading against the FMA peak (itself the best of several probes); on a quiet machine the two agree within a few percent.`,
    `Peak RSS: VmHWM of each side's own fresh process (src/bench/ours-w1.ts, bench/peers/torch_w1.py), reset through /proc/self/clear_refs at its start` +
      (ours.memoryMb.peakReset ? '' : ' (the reset was refused here: the peak then counts from exec)') +
      `; ours ${fmt(ours.memoryMb.rssAfterLoad)} MB after loading the engine and the supernet${t ? `, pytorch ${fmt(t.memory_mb.rss_after_import_torch)} MB after import torch` : ''}.` +
      ` The whole-run row stops where the peer's run does, after the FP32 rounds (the peaks depend on the chunk each side's probe picked)` +
      (ours.memoryMb.peakWithBf16 != null ? `; ours with the bfloat16 supernet, a second model in the process, and its rounds too: ${fmt(ours.memoryMb.peakWithBf16)} MB.` : '.'),
    `Scoring sanity (mean loss of the last timed round's paths at initialisation, ~ln ${space.classes} = ${Math.log(space.classes).toFixed(2)}): ours ${ours.round.batched.meanLoss.toFixed(3)}${t ? `, pytorch ${t.round.mean_loss.toFixed(3)}` : ''} (different initial weights).`,
  ];
  if (fid)
    notes.push(
      `bfloat16 scoring: the 1x1 and depthwise convs take bfloat16 products with float sums (vdpbf16ps), and an MBConv block's inner activations and (batch statistics) its project conv's output and its own output are stored in bfloat16; stem, BN and the classifier compute in FP32. Fidelity: the supernet trained ${fid.trainSteps} steps (batch ${fid.batch}, uniform random paths, lr 0.05) on ${fid.data}, then ${fid.paths} random paths scored on ${fid.images} held-out images both ways: Kendall tau ${fid.kendallTau.toFixed(4)}, Spearman ${fid.spearman.toFixed(4)}, FP32 loss spread ${fid.lossSpread.toFixed(3)}, largest |loss difference| ${fid.maxAbsLossDiff.toExponential(2)}.`,
    );
  if (rp)
    notes.push(
      `bfloat16 round row: each of the ${rp.ratios.length} pairs times the FP32 and the bfloat16 round back to back; the row gives each side's median round and the median of the per-pair ratios FP32 / bfloat16 (${rp.ratios.map((v) => v.toFixed(2)).join(', ')}), so one slow pair does not decide the bar.`,
    );
  if (typeof ours.bf16 === 'string') notes.push(`bfloat16 scoring: ${ours.bf16}`);
  if (o)
    notes.push(
      `onnxruntime: our exporter's model of the path (BN folded), intra-op threads ${threads}, inter-op 1, input normalised and NCHW outside the timed call; its logits vs ours: max relative difference ${o.parity.maxRelDiff.toExponential(1)}, argmax agreement ${(100 * o.parity.argmaxAgreement).toFixed(0)}%.`,
    );
  if (p && ps && o) {
    const range = (xs: number[], d: number) => `${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)}`;
    notes.push(
      `Eval-mode row: ${p.ours.length} round${p.ours.length === 1 ? '' : 's'} of fresh processes, one per side (src/bench/eval-w1.ts: predict; src/bench/ort-w1.ts), the side that runs first alternating, each the median of its calls; the row gives each side's median run (ours ${range(p.ours, 1)}, onnxruntime ${range(p.onnxruntime, 1)} images/s) and the median of the per-round ratios ours / onnxruntime (${range(ps.ratios, 3)}). The first runs of the two sides, minutes apart, read ours ${fmt(ours.evalFwd.imagesPerS)}, onnxruntime ${fmt(o.evalFwd.imagesPerS)}.`,
    );
  } else if (typeof pairs === 'string') {
    notes.push(`Eval-mode row: the alternating rounds did not run (${pairs}); the row compares the two sides' single runs.`);
  }
  if (typeof torch === 'string') notes.push(`pytorch peer: ${torch}`);
  if (typeof ort === 'string') notes.push(`onnxruntime peer: ${ort}`);
  else if ('skipped' in ort) notes.push(`onnxruntime peer: skipped: ${ort.skipped}`);
  return { table, notes, gflops };
}
