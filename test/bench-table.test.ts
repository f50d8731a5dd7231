// The bench table's eval-mode summary (src/bench/table.ts): the alternating rounds are read as
// each side's median run and the median of the per-round ratios.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { evalPairsSummary } from '../src/bench/table.js';

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
