// The held-out validation split: stratified (per-class counts), disjoint and complete,
// deterministic for a seed and different across seeds, per-class counts for ImageNet-style
// splits, and the JSON file: round trip, refusal for another dataset or other options.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { loadOrCreateSplit, loadSplit, saveSplit, stratifiedSplit } from '../src/data/split.js';
import { DataError } from '../src/data/types.js';

const dir = mkdtempSync(join(tmpdir(), 'greedynas-split-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Unbalanced labels: class c has 100 + 37c images, interleaved in a scrambled order. */
function makeLabels(classes: number): Int32Array {
  const out: number[] = [];
  for (let c = 0; c < classes; c++) for (let i = 0; i < 100 + 37 * c; i++) out.push(c);
  // Deterministic scramble (a multiplicative permutation of the positions).
  const n = out.length;
  const labels = new Int32Array(n);
  let step = 7919;
  while (gcd(step, n) !== 1) step++;
  for (let i = 0; i < n; i++) labels[(i * step) % n] = out[i]!;
  return labels;
}
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const labels = makeLabels(5);

test('10% per class, disjoint, complete, sorted', () => {
  const split = stratifiedSplit(labels, 5, { seed: 3 });
  assert.equal(split.train.length + split.val.length, labels.length);
  const seen = new Uint8Array(labels.length);
  for (const i of split.train) seen[i]! += 1;
  for (const i of split.val) seen[i]! += 2;
  assert.ok(seen.every((v) => v === 1 || v === 2), 'every index in exactly one side');
  for (const side of [split.train, split.val]) for (let k = 1; k < side.length; k++) assert.ok(side[k]! > side[k - 1]!);
  for (let c = 0; c < 5; c++) {
    const total = labels.filter((l) => l === c).length;
    const held = split.val.filter((i) => labels[i] === c).length;
    assert.equal(held, Math.round(total * 0.1), `class ${c}: ${held} of ${total}`);
  }
});

test('deterministic for a seed, different for another seed', () => {
  const a = stratifiedSplit(labels, 5, { seed: 11 });
  const b = stratifiedSplit(labels, 5, { seed: 11 });
  const c = stratifiedSplit(labels, 5, { seed: 12 });
  assert.deepEqual(a.val, b.val);
  assert.notDeepEqual(a.val, c.val);
});

test('perClass holds out exactly that many per class; too many is an error', () => {
  const split = stratifiedSplit(labels, 5, { perClass: 50, seed: 0 });
  assert.equal(split.val.length, 250);
  for (let c = 0; c < 5; c++) assert.equal(split.val.filter((i) => labels[i] === c).length, 50);
  assert.deepEqual(split.rule, { perClass: 50 });
  assert.throws(() => stratifiedSplit(labels, 5, { perClass: 100 }), (e: unknown) => e instanceof DataError && e.code === 'BAD_ARGUMENT');
  assert.throws(() => stratifiedSplit(labels, 5, { fraction: 1 }), (e: unknown) => e instanceof DataError);
  assert.throws(() => stratifiedSplit(labels, 4), (e: unknown) => e instanceof DataError, 'labels beyond classes');
});

test('the split file round trips and is tied to its dataset', async () => {
  const file = join(dir, 'split.json');
  const split = stratifiedSplit(labels, 5, { seed: 5 });
  await saveSplit(file, split);
  const text = JSON.parse(readFileSync(file, 'utf8')) as { val: number[] };
  assert.deepEqual(text.val, Array.from(split.val), 'the file holds the validation indices as JSON');
  const back = await loadSplit(file, labels);
  assert.deepEqual(back, split);
  // Same size, other labels: refused.
  const other = labels.slice();
  [other[0], other[1]] = [(other[0]! + 1) % 5, (other[1]! + 2) % 5];
  await assert.rejects(loadSplit(file, other), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_MISMATCH');
  await assert.rejects(loadSplit(file, labels.subarray(1)), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_MISMATCH');
  writeFileSync(join(dir, 'bad.json'), '{"format": "something else"}');
  await assert.rejects(loadSplit(join(dir, 'bad.json')), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_FORMAT');
  writeFileSync(join(dir, 'bad2.json'), '{not json');
  await assert.rejects(loadSplit(join(dir, 'bad2.json')), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_FORMAT');
});

test('loadOrCreateSplit creates once, then loads; other options are refused', async () => {
  const file = join(dir, 'sub', 'auto.json');
  const first = await loadOrCreateSplit(file, labels, 5, { seed: 9 });
  assert.equal(first.created, true);
  const second = await loadOrCreateSplit(file, labels, 5, { seed: 9 });
  assert.equal(second.created, false);
  assert.deepEqual(second.split.val, first.split.val);
  await assert.rejects(loadOrCreateSplit(file, labels, 5, { seed: 10 }), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_MISMATCH');
  await assert.rejects(loadOrCreateSplit(file, labels, 5, { seed: 9, perClass: 3 }), (e: unknown) => e instanceof DataError && e.code === 'SPLIT_MISMATCH');
});
