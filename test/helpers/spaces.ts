// Test helper (not a test): the small search spaces the tests share, so that a test states only
// how its space differs from one of them. Under test/ the runner also loads this file as a test
// file; it defines no tests.
//   miniSpace()   test/fixtures/mini-space.json: 28x28x1, 10 classes (the shipped fmnist-mini's
//                 images), 4 layers x 3 ops = 81 paths; what CLI and pipeline tests train on real
//                 data (a file, so that a CLI run and scripts/soak.mjs read the same space).
//   tinySpace()   8x8x2, 5 classes, 2 layers x 3 ops (an MBConv, one with SE, identity): engine
//                 tests on synthetic batches, a training step in well under a millisecond.
//   smallSpace()  28x28x1, 10 classes, 4 layers x 7 ops = 2,401 paths (small enough to enumerate
//                 every path's cost): space resolution and sampler tests, no training.
// Each returns a fresh object; `overrides` replace whole top-level fields.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { SpaceFile } from '../../src/space/types.js';
import { packageRoot } from '../../src/util/package-root.js';

/** The path of test/fixtures/mini-space.json, for a --space argument. */
export const MINI_SPACE_FILE = join(packageRoot(), 'test', 'fixtures', 'mini-space.json');

export function miniSpace(overrides: Partial<SpaceFile> = {}): SpaceFile {
  return { ...(JSON.parse(readFileSync(MINI_SPACE_FILE, 'utf8')) as SpaceFile), ...overrides };
}

export function tinySpace(overrides: Partial<SpaceFile> = {}): SpaceFile {
  return {
    name: 'tiny',
    input: { height: 8, width: 8, channels: 2 },
    classes: 5,
    activation: 'relu6',
    stem: { width: 8, stride: 1 },
    fixedBlocks: [],
    stages: [{ width: 8, layers: 2, stride: 1 }],
    ops: ['k3e3', 'k5e6_se', 'id'],
    head: { width: 16 },
    ...overrides,
  };
}

/** The ops of smallSpace(): every MBConv kernel/expansion pair of the paper's space, and identity. */
export const SEVEN_OPS = ['k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6', 'id'];

export function smallSpace(overrides: Partial<SpaceFile> = {}): SpaceFile {
  return {
    name: 'small',
    input: { height: 28, width: 28, channels: 1 },
    classes: 10,
    activation: 'relu6',
    stem: { width: 16, stride: 1, kernel: 3 },
    fixedBlocks: [{ kernel: 3, expansion: 1, width: 16, stride: 1 }],
    stages: [
      { width: 24, layers: 2, stride: 2 },
      { width: 40, layers: 2, stride: 2 },
    ],
    ops: [...SEVEN_OPS],
    head: { width: 64 },
    ...overrides,
  };
}
