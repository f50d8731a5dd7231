// Timing helpers of `npm run bench` (the Node sides: src/bench/ours-w1.ts, src/bench/ort-w1.ts).
//
// Per-call timing uses tinybench (maintained, async-aware; benchmark.js has not changed since
// 2017): warm-up iterations, then timed iterations; we report the median.
import { Bench } from 'tinybench';

import type { PathScore } from './workload.js';

/** Median and fastest latency in ms of `fn` over `iterations` timed calls after `warmup` untimed ones. */
export async function latencyMs(name: string, fn: () => Promise<unknown>, iterations: number, warmup: number): Promise<{ median: number; fastest: number }> {
  const bench = new Bench({ name, iterations, warmupIterations: warmup, time: 0, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result as { state: string; latency?: { p50: number; min: number }; error?: unknown } | undefined;
  if (!r || r.state !== 'completed' || !r.latency) throw new Error(`benchmark ${name} failed: ${String(r?.error ?? r?.state)}`);
  return { median: r.latency.p50, fastest: r.latency.min };
}

/** Median latency in ms of `fn` over `iterations` timed calls after `warmup` untimed ones. */
export async function medianMs(name: string, fn: () => Promise<unknown>, iterations: number, warmup: number): Promise<number> {
  return (await latencyMs(name, fn, iterations, warmup)).median;
}

export interface RoundTiming {
  /** Median seconds of the timed rounds (rounds 1.. of the workload). */
  seconds: number;
  runs: number[];
  /** Seconds of round 0 when it ran as the warm-up (new shapes), else null. */
  coldSeconds: number | null;
  /** Mean loss over the paths of the last timed round (a sanity check: ~ln(classes) at init). */
  meanLoss: number;
}

/**
 * Times greedy rounds: round 0 is the warm-up (timed as `coldSeconds` when `cold`, skipped
 * otherwise), rounds 1.. are timed one by one. `score` scores all paths of one round.
 */
export async function timeRounds(rounds: number[][][], score: (paths: number[][]) => Promise<PathScore[]>, cold: boolean): Promise<RoundTiming> {
  if (rounds.length < 2) throw new Error('timeRounds: need at least 2 rounds (round 0 is the warm-up)');
  let coldSeconds: number | null = null;
  if (cold) {
    const t0 = performance.now();
    await score(rounds[0]!);
    coldSeconds = (performance.now() - t0) / 1000;
  }
  const runs: number[] = [];
  let last: PathScore[] = [];
  for (const paths of rounds.slice(1)) {
    const t0 = performance.now();
    last = await score(paths);
    runs.push((performance.now() - t0) / 1000);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const seconds = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { seconds, runs, coldSeconds, meanLoss: last.reduce((a, s) => a + s.loss, 0) / Math.max(1, last.length) };
}

/** Seconds per round of two ways of scoring the same rounds, timed in alternation (timeRoundPairs). */
export interface RoundPairs {
  fp32: number[];
  bf16: number[];
}

/**
 * The greedy round in FP32 and in bfloat16 scoring, in turn: round 0 once each as the warm-up, then
 * rounds 1.. (`repeats` times over) each scored both ways back to back, the way that goes first
 * alternating from one round to the next. Timed minutes apart (as the FP32 and bfloat16 round rows
 * are), the two had drifted with the shared machine's speed by about as much as the bar's margin;
 * a round's two timings see nearly the same machine, so their ratio does not.
 */
export async function timeRoundPairs(
  rounds: number[][][],
  fp32: (paths: number[][]) => Promise<PathScore[]>,
  bf16: (paths: number[][]) => Promise<PathScore[]>,
  repeats: number,
): Promise<RoundPairs> {
  if (rounds.length < 2) throw new Error('timeRoundPairs: need at least 2 rounds (round 0 is the warm-up)');
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`timeRoundPairs: repeats must be a positive integer, got ${repeats}`);
  await fp32(rounds[0]!);
  await bf16(rounds[0]!);
  const out: RoundPairs = { fp32: [], bf16: [] };
  let k = 0;
  for (let rep = 0; rep < repeats; rep++) {
    for (const paths of rounds.slice(1)) {
      for (const side of k++ % 2 === 0 ? (['fp32', 'bf16'] as const) : (['bf16', 'fp32'] as const)) {
        const t0 = performance.now();
        await (side === 'fp32' ? fp32 : bf16)(paths);
        out[side].push((performance.now() - t0) / 1000);
      }
    }
  }
  return out;
}
