#!/usr/bin/env node
// Writes test/fixtures/rng-streams.json: the first draws of a few streams of src/util/rng.ts (a
// seed alone, a loader's order and augmentation keys, a negative and a large seed), which
// test/sampling.test.ts compares with the generator. A change of the generator or of the seed
// mixer fails that test; it is then deliberate only with RNG_STREAMS raised (so that runs drawn
// with the old streams refuse --resume) and this file rewritten:
//
//   npx tsc -p tsconfig.json && node scripts/make-rng-fixture.mjs
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Rng, RNG_STREAMS } = await import(path.join(root, 'dist', 'util', 'rng.js'));

const KEYS = [[0], [7], [2 ** 32 - 1], [2 ** 40 + 5], [-3], [0, 0x0d3e, 0], [0, 0xa06e, 3, 17], [20200325, 0x5911, 9]];
const streams = KEYS.map((keys) => {
  const r = new Rng(...keys);
  const state = r.state().words;
  return { keys, state, int1000: Array.from({ length: 8 }, () => r.int(1000)), float: Array.from({ length: 4 }, () => r.float()) };
});
const file = path.join(root, 'test', 'fixtures', 'rng-streams.json');
const command = 'npx tsc -p tsconfig.json && node scripts/make-rng-fixture.mjs';
const lines = streams.map((s) => `  ${JSON.stringify(s)}`).join(',\n');
writeFileSync(file, `{\n "rngStreams": ${RNG_STREAMS},\n "command": ${JSON.stringify(command)},\n "streams": [\n${lines}\n ]\n}\n`);
console.log(`wrote ${file}: ${streams.length} streams, version ${RNG_STREAMS}`);
