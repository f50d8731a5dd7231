// The structure check (scripts/check-structure.mjs, issue 12) on this checkout: no source file
// over 800 lines, no include or import from a lower floor to a higher one (tables in the script
// and in docs/architecture.md). The synthetic trees below show that each rule can fail.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { packageRoot } from '../src/util/package-root.js';

interface Known {
  message: string;
  why: string;
}
interface Result {
  failures: string[];
  known: string[];
}
interface StructureCheck {
  MAX_LINES: number;
  checkStructure(root: string): Result;
  checkFiles(files: Map<string, string>, known?: Known[]): Result;
}

const root = packageRoot();
const check = (await import(pathToFileURL(join(root, 'scripts', 'check-structure.mjs')).href)) as StructureCheck;

function failuresOf(files: Record<string, string>, known: Known[] = []): string[] {
  return check.checkFiles(new Map(Object.entries(files)), known).failures;
}

describe('structure check', () => {
  test('this checkout passes (known violations are listed with their reason in the script)', () => {
    const { failures, known } = check.checkStructure(root);
    assert.deepEqual(failures, []);
    for (const k of known) console.log(`known: ${k}`);
  });

  test('a source file over the limit fails; other extensions and folders do not count', () => {
    const long = 'x\n'.repeat(check.MAX_LINES + 1);
    assert.deepEqual(failuresOf({ 'src/util/ok.ts': 'x\n'.repeat(check.MAX_LINES) }), []);
    assert.deepEqual(failuresOf({ 'docs/long.md': long, 'test/fixtures/long.json': long }), []);
    const f = failuresOf({ 'native/tests/long.cpp': long, '.ci/run': '#!/bin/sh\n' + long });
    assert.equal(f.length, 2);
    assert.match(f[0]!, /native\/tests\/long\.cpp has 801 lines/);
    assert.match(f[1]!, /\.ci\/run has 802 lines/);
  });

  test('native: an include from a lower floor to a higher one fails, downward and tests do not', () => {
    const ok = {
      'native/core/backend.h': '',
      'native/backends/cpu/cpu_backend.h': '#include "core/backend.h"\n',
      'native/supernet/supernet.h': '#include "core/backend.h"\n',
      'native/tests/main.cpp': '#include "supernet/supernet.h"\n#include "backends/cpu/cpu_backend.h"\n',
    };
    assert.deepEqual(failuresOf(ok), []);
    assert.deepEqual(failuresOf({ ...ok, 'native/core/registry.cpp': '#include "../backends/cpu/cpu_backend.h"\n' }), [
      'native/core/registry.cpp (core) includes ../backends/cpu/cpu_backend.h (backends)',
    ]);
  });

  test('native: one backend including another fails (peers)', () => {
    const f = failuresOf({
      'native/backends/cpu/gemm.h': '',
      'native/backends/cuda/dense.cu': '  #  include "backends/cpu/gemm.h"\n',
    });
    assert.deepEqual(f, ['native/backends/cuda/dense.cu (backends) includes backends/cpu/gemm.h (backends)']);
  });

  test('native: the CUDA emulator (tools/cuda-emu/) may include the backend, the backend may not include it', () => {
    const ok = {
      'native/backends/cuda/cuda_common.cuh': '#include <cuda_runtime.h>\n',
      'tools/cuda-emu/emu_hooks.h': '',
      'tools/cuda-emu/dynamic_smem.cpp': '#include "backends/cuda/cuda_common.cuh"\n',
    };
    assert.deepEqual(failuresOf(ok), []);
    assert.deepEqual(failuresOf({ ...ok, 'native/backends/cuda/gemm.cuh': '#include "emu_hooks.h"\n' }), [
      'native/backends/cuda/gemm.cuh (backends) includes emu_hooks.h (tests)',
    ]);
  });

  test('src: an import from a lower floor to a higher one fails, type-only and dynamic ones too', () => {
    const f = failuresOf({
      'src/space/types.ts': "import type { Engine } from '../native/engine.js';\n",
      'src/native/engine.ts': "import { resolveSpace } from '../space/resolve.js';\n",
      'src/util/rng.ts': "const m = await import('../sampling/greedy.js');\n",
      'src/sampling/greedy.ts': "export { x } from '../util/rng.js';\n",
    });
    assert.deepEqual(f, [
      'src/space/types.ts (space) imports ../native/engine.js (engine)',
      'src/util/rng.ts (util) imports ../sampling/greedy.js (domain)',
    ]);
  });

  test('a cycle between folders of one floor fails; a file on no floor fails', () => {
    const f = failuresOf({
      'src/search/common.ts': "import { a } from '../sampling/pool.js';\n",
      'src/sampling/pool.ts': "import { b } from '../search/common.js';\n",
      'src/newfolder/x.ts': '',
    });
    assert.deepEqual(f, [
      'src/newfolder/x.ts is on no floor of src/: place its folder in the table of scripts/check-structure.mjs',
      'cycle between the folders of one floor: src/sampling/ -> src/search/ -> src/sampling/',
    ]);
  });

  test('a known violation is reported without failing, and fails once it no longer occurs', () => {
    const files = { 'src/util/a.ts': "import { s } from '../space/s.js';\n" };
    const known = [{ message: 'src/util/a.ts (util) imports ../space/s.js (space)', why: 'test' }];
    assert.deepEqual(check.checkFiles(new Map(Object.entries(files)), known), {
      failures: [],
      known: [known[0]!.message],
    });
    assert.deepEqual(failuresOf({}, known), [
      'known violation no longer occurs, remove it from KNOWN_VIOLATIONS: src/util/a.ts (util) imports ../space/s.js (space)',
    ]);
  });
});
