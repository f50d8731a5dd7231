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
