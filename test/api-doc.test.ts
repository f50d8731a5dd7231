// The package face (issue 11): docs/api.md's worked example (its first ```ts block) is type-checked
// against the built declarations and run against the built package, imported by its name through
// package.json's `exports` (Node resolves a package's own name from inside it), so that the
// example, the export map and the API cannot drift apart. Also: package.json points at files that
// exist, `files` packs what an installed package needs and nothing of the development tree
// (checked with `npm pack --dry-run --ignore-scripts`, which builds nothing), and LICENSE is there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  exports: Record<string, unknown>;
  files: string[];
  bin: Record<string, string>;
};

/** The first ```ts block of docs/api.md. */
function apiExample(): string {
  const md = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
  const m = /```ts\n([\s\S]*?)\n```/.exec(md);
  assert.ok(m, 'docs/api.md has no ```ts block');
  return `${m[1]}\n`;
}

/** Where the example is written: inside the package, so that `import ... from 'greedynas'` resolves through its own exports map. */
const scratch = join(root, '.test-build', 'api-example');

describe('docs/api.md worked example', () => {
  const code = apiExample();

  test('it imports only from the package name', () => {
    assert.match(code, /from 'greedynas';/);
    assert.doesNotMatch(code, /from 'greedynas\//, 'deep imports bypass the exports map');
  });

  test('it type-checks against the built declarations (strict)', () => {
    mkdirSync(scratch, { recursive: true });
    const file = join(scratch, 'example.mts');
    writeFileSync(file, code);
    const program = ts.createProgram([file], {
      strict: true,
      noUncheckedIndexedAccess: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      noEmit: true,
      types: ['node'],
      skipLibCheck: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(diagnostics, []);
  });

  test('it runs against the built package and prints what it says', () => {
    mkdirSync(scratch, { recursive: true });
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const file = join(scratch, 'example.mjs');
    writeFileSync(file, js);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', cwd: scratch, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^step 0: path \d-\d-\d-\d loss \d+\.\d{3}$/);
    assert.ok(lines.some((l) => /^round 0: kept \d-\d-\d-\d, \d-\d-\d-\d, \d-\d-\d-\d; pool 3\/20$/.test(l)), r.stdout);
    const tau = /^Kendall tau between the two halves: (-?\d\.\d\d)$/m.exec(r.stdout);
    assert.ok(tau && Math.abs(Number(tau[1])) <= 1, r.stdout);
    assert.match(r.stdout, /^best \d-\d-\d-\d: (k3e3|k5e3|id) (k3e3|k5e3|id) (k3e3|k5e3|id) (k3e3|k5e3|id), [\d.]+[KM]? FLOPs$/m);
    assert.match(r.stdout, /^wrote \d+ ONNX nodes \(((k3e3|k5e3|id),?){4}\)$/m);
  });
});

describe('package.json and the packed package', () => {
  test('main, types, exports and bin point at files the build writes', () => {
    assert.equal(pj.main, 'dist/index.js');
    assert.equal(pj.types, 'dist/index.d.ts');
    assert.deepEqual(pj.exports, { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './package.json': './package.json' });
    for (const f of [pj.main, pj.types, pj.bin.greedynas!]) assert.ok(existsSync(join(root, f)), `${f} is missing (run npx tsc -p tsconfig.json)`);
  });

  test('the public API is importable by name', async () => {
    const api = (await import(pj.name)) as Record<string, unknown>;
    const expected = [
      'Supernet', 'EngineError', 'probeBackends',
      'loadSpace', 'resolveSpace', 'costTable', 'describeSpace', 'describeArch', 'readArchFile',
      'UniformSampler', 'FairSampler', 'GreedySampler', 'CandidatePool', 'EpsSchedule', 'StoppingRule',
      'EvolutionSearch', 'RandomSearch',
      'openDataset', 'BatchLoader', 'createDataset', 'subsetDataset',
      'kendallTau', 'spearman', 'rankReport',
      'writeOnnx', 'exportOnnx', 'checkParity', 'profile', 'latencyTable',
      'writePlots', 'provenance',
    ];
    assert.deepEqual(expected.filter((n) => api[n] === undefined), []);
  });

  test('LICENSE is MIT with the copyright line', () => {
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    assert.match(text, /^MIT License\n\nCopyright \(c\) 2026 the greedynas authors\n/);
    assert.equal((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string }).license, 'MIT');
  });

  test('`files` packs the build, spaces, shipped data, configs, native sources and docs; not the development tree', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const [info] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }>; size: number; unpackedSize: number; entryCount: number }>;
    const files = info!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/run.js', 'spaces/fmnist-small.json', 'data/fmnist-mini/train-images-idx3-ubyte.gz', 'data/fmnist-mini/LICENSE', 'configs/paper.json', 'CMakeLists.txt', 'native/core/backend.h', 'native/binding/addon.cpp', 'docs/api.md', 'scripts/native-addon.mjs']) {
      assert.ok(files.includes(f), `${f} is not packed`);
    }
    const unwanted = files.filter((f) => /^(test|\.ci|scripts|bench|src|native\/tests|dist\/bench|build|build-prebuild|node_modules)\//.test(f) || f.startsWith('.test-build'));
    assert.deepEqual(unwanted.filter((f) => f !== 'scripts/native-addon.mjs'), []);
    // Without a prebuilt binary the package stays small (the bar: under 6 MB). After
    // `npm run build:prebuild` the binary is packed too; scripts/pack-check.sh measures the
    // tarball without it then.
    const binaries = files.filter((f) => f.startsWith('prebuilds/'));
    if (binaries.length === 0) assert.ok(info!.size < 6e6, `packed size ${info!.size} bytes`);
    console.log(`# npm pack --dry-run: ${info!.entryCount} files, ${(info!.size / 1e6).toFixed(2)} MB packed, ${(info!.unpackedSize / 1e6).toFixed(2)} MB unpacked`);
  });
});
