#!/usr/bin/env node
// A/B timing of the per-op rows of two gnas_op_bench binaries (e.g. build/gnas_op_bench of a
// worktree of an older commit, copied aside, and of this tree), alternating on the same machine:
//   node scripts/ab-ops.mjs OLD_BIN NEW_BIN FILTER [ROUNDS] [-- EXTRA_ARGS...]
// e.g. node scripts/ab-ops.mjs /tmp/old_op_bench build/gnas_op_bench "dwconv_backward" 6 -- --threads 1
// Prints, per row, the fastest time of each binary over the rounds and old/new (> 1: new faster).
// The runs go in ABBA order (old, new, new, old, ...): on a shared VM whichever binary always ran
// first was favoured by up to ~15% (an identical kernel read 0.86x one way round, 1.05x the other).
// Single-thread runs (-- --threads 1) vary far less than two-thread ones on such machines.
import { spawnSync } from 'node:child_process';

const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
const [oldBin, newBin, filter, roundsArg] = dashes < 0 ? argv : argv.slice(0, dashes);
const extra = dashes < 0 ? [] : argv.slice(dashes + 1);
const rounds = Number(roundsArg ?? 4);
if (!oldBin || !newBin || filter === undefined || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node scripts/ab-ops.mjs OLD_BIN NEW_BIN FILTER [ROUNDS] [-- EXTRA_ARGS...]');
  process.exit(2);
}

/** One run of a binary: its JSON rows with an "op" field. */
function run(bin) {
  const r = spawnSync(bin, [...extra, '--filter', filter], { encoding: 'utf8' });
  if (r.error) throw new Error(`${bin}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${bin} exited with ${r.status}: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"op"'))
    .map((l) => JSON.parse(l));
}

const best = [new Map(), new Map()];  // row key -> fastest ms, for old and new
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? [0, 1] : [1, 0];
  for (const side of order) {
    for (const row of run(side === 0 ? oldBin : newBin)) {
      const key = `${row.op} | ${row.shape}`;
      best[side].set(key, Math.min(best[side].get(key) ?? Infinity, row.ms));
    }
  }
}
if (best[0].size === 0) {
  console.error(`no op row matched the filter '${filter}'`);
  process.exit(1);
}
const width = Math.max(...[...best[0].keys()].map((k) => k.length));
console.log(`${'row'.padEnd(width)}  old ms    new ms    old/new  (fastest of ${rounds} ABBA rounds)`);
for (const [key, a] of best[0]) {
  const b = best[1].get(key);
  const ratio = b === undefined ? '-' : `${(a / b).toFixed(2)}x`;
  console.log(`${key.padEnd(width)}  ${a.toFixed(4).padStart(8)}  ${b === undefined ? '-'.padStart(8) : b.toFixed(4).padStart(8)}  ${ratio}`);
}
