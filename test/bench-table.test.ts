// The bench table's rows read from alternating rounds (src/bench/table.ts): the eval-mode row
// against onnxruntime and the bfloat16 round against the FP32 one are each side's median run and
// the median of the per-round ratios; and the timing that makes the round pairs (timing.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { evalPairsSummary, fp32RowsOverPeak, roundPairsSummary } from '../src/bench/table.js';
import { timeRoundPairs } from '../src/bench/timing.js';

test('eval-mode rounds: medians per side and the median of per-round ratios', () => {
  // round 2 ran while the machine was slow for both sides: its ratio is like the others'
  const s = evalPairsSummary({ ours: [2000, 1000, 2200], onnxruntime: [1900, 950, 2300] });
  assert.equal(s.ours, 2000);
  assert.equal(s.onnxruntime, 1900);
  assert.deepEqual(s.ratios, [2000 / 1900, 1000 / 950, 2200 / 2300]);
  assert.equal(s.ratio, 2000 / 1900);
  const even = evalPairsSummary({ ours: [100, 300], onnxruntime: [200, 100] });
  assert.equal(even.ratio, (0.5 + 3) / 2);
  assert.notEqual(even.ratio, even.ours / even.onnxruntime);  // 200 / 150: not what the row reports
});

test('eval-mode rounds: unmatched or empty runs are an error, not a row', () => {
  assert.throws(() => evalPairsSummary({ ours: [], onnxruntime: [] }), /0 runs of ours against 0/);
  assert.throws(() => evalPairsSummary({ ours: [1, 2], onnxruntime: [1] }), /2 runs of ours against 1/);
});

test('bfloat16 round pairs: seconds, so the ratio is fp32 / bf16 per round, and its median', () => {
  const s = roundPairsSummary({ fp32: [4.5, 6.0, 4.6], bf16: [2.5, 3.0, 2.8] });
  assert.equal(s.fp32, 4.6);
  assert.equal(s.bf16, 2.8);
  assert.deepEqual(s.ratios, [4.5 / 2.5, 6.0 / 3.0, 4.6 / 2.8]);
  assert.equal(s.ratio, 4.5 / 2.5);
  assert.throws(() => roundPairsSummary({ fp32: [1], bf16: [] }), /1 runs of fp32 against 0 of bf16/);
});

test('timeRoundPairs: warms up on round 0, then scores each round both ways, alternating which goes first', async () => {
  const calls: string[] = [];
  const scorer = (side: string) => async (paths: number[][]) => {
    calls.push(`${side}:${paths[0]![0]}`);
    return paths.map(() => ({ loss: 1, accuracy: 0 }));
  };
  const rounds = [[[0]], [[1]], [[2]]];
  const p = await timeRoundPairs(rounds, scorer('fp32'), scorer('bf16'), 2);
  assert.deepEqual(calls, [
    'fp32:0', 'bf16:0',
    'fp32:1', 'bf16:1', 'bf16:2', 'fp32:2',
    'fp32:1', 'bf16:1', 'bf16:2', 'fp32:2',
  ]);
  assert.equal(p.fp32.length, 4);
  assert.equal(p.bf16.length, 4);
  assert.ok([...p.fp32, ...p.bf16].every((v) => v >= 0 && Number.isFinite(v)));
  await assert.rejects(timeRoundPairs([[[0]]], scorer('fp32'), scorer('bf16'), 1), /at least 2 rounds/);
  await assert.rejects(timeRoundPairs(rounds, scorer('fp32'), scorer('bf16'), 0), /repeats must be a positive integer/);
});

test('the note on rows above the FMA peak: FP32 rows only, since a bfloat16 instruction does two multiply-adds per lane', () => {
  // keys as benchTable names them: 'ours.roundBf16' is the bfloat16 round, the others are FP32
  assert.equal(fp32RowsOverPeak({ 'ours.trainStep': 200, 'ours.roundBf16': 470, 'ours.scoreFwdBf16': 455 }, 460), false);
  assert.equal(fp32RowsOverPeak({ 'ours.trainStep': 461, 'ours.roundBf16': 300 }, 460), true);
  assert.equal(fp32RowsOverPeak({ 'ours.trainStep': null, 'pytorch.roundBatched': 30 }, 460), false);
});
