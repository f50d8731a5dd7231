// onnxruntime-node is optional (src/util/onnxruntime.ts): package.json lists it under
// optionalDependencies; nothing imports it statically; where it is absent the library still
// imports and trains, and what needs it (parity, profiling, `run` with export, `profile`) fails
// at once with a message naming the package and how to install it, before any file is written.
// Its absence is acted out in child processes by a module-resolution hook that refuses the name,
// exactly as Node refuses a package that is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';

import { loadOnnxRuntime, MissingDependencyError, ONNXRUNTIME_FIX } from '../src/util/onnxruntime.js';
import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const runJs = join(root, 'dist', 'run.js');
const dir = mkdtempSync(join(tmpdir(), 'gnas-no-ort-'));

/** A --import module that makes `onnxruntime-node` unresolvable, as when it is not installed. */
const hook = join(dir, 'no-onnxruntime.mjs');
writeFileSync(
  hook,
  [
    "import { register } from 'node:module';",
    'const resolver = `export async function resolve(specifier, context, next) {',
    "  if (specifier === 'onnxruntime-node' || specifier.startsWith('onnxruntime-node/')) {",
    "    const e = new Error(\"Cannot find package '\" + specifier + \"' imported from \" + context.parentURL);",
    "    e.code = 'ERR_MODULE_NOT_FOUND';",
    '    throw e;',
    '  }',
    '  return next(specifier, context);',
    '}`;',
    "register('data:text/javascript,' + encodeURIComponent(resolver));",
  ].join('\n'),
);

const withoutOrt = (args: string[], cwd = root) => spawnSync(process.execPath, ['--import', pathToFileURL(hook).href, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });

describe('onnxruntime-node is optional', () => {
  test('package.json lists it under optionalDependencies only', () => {
    const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    assert.ok(pj.optionalDependencies?.['onnxruntime-node'], 'not in optionalDependencies');
    assert.equal(pj.dependencies?.['onnxruntime-node'], undefined, 'still a hard dependency');
  });

  test('no source file imports it statically (only src/util/onnxruntime.ts loads it, on demand)', () => {
    const offenders: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const f = join(d, e.name);
        if (e.isDirectory()) walk(f);
        else if (f.endsWith('.ts') && /^\s*import\s+(?!type\b)[^;]*from\s+'onnxruntime-node'/m.test(readFileSync(f, 'utf8'))) offenders.push(f);
      }
    };
    walk(join(root, 'src'));
    assert.deepEqual(offenders, []);
  });

  test('a missing package is a MissingDependencyError naming it and the fix', async () => {
    await assert.rejects(loadOnnxRuntime('the parity check', 'onnxruntime-node-that-does-not-exist'), (e: Error) => {
      assert.ok(e instanceof MissingDependencyError);
      assert.match(e.message, /^the parity check needs the optional package onnxruntime-node-that-does-not-exist, which is not installed: /);
      assert.ok(e.message.endsWith(ONNXRUNTIME_FIX));
      assert.match(ONNXRUNTIME_FIX, /npm install onnxruntime-node/);
      return true;
    });
    // Installed here: it loads, and a second call gets the same module.
    const a = await loadOnnxRuntime('test');
    assert.equal(typeof a.InferenceSession.create, 'function');
    assert.equal(await loadOnnxRuntime('test'), a);
  });

  test('without it the library imports, and profiling says what is missing', () => {
    const script = join(dir, 'use-api.mjs');
    writeFileSync(
      script,
      [
        `const api = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)});`,
        "for (const name of ['Supernet', 'GreedySampler', 'writeOnnx', 'kendallTau']) if (!api[name]) throw new Error('missing export ' + name);",
        "try { await api.profile('model.onnx'); console.log('profile ran'); } catch (e) { console.log(e.name + ': ' + e.message); }",
      ].join('\n'),
    );
    const r = withoutOrt([script]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^MissingDependencyError: latency profiling needs the optional package onnxruntime-node, which is not installed: install it beside greedynas with `npm install onnxruntime-node`/m);
  });

  test('without it `profile` and `run` (with export) stop at once with exit 2; `run --no-export` is not refused for it', () => {
    let r = withoutOrt([runJs, 'profile', join(dir, 'model.onnx')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /profile: `profile` needs the optional package onnxruntime-node, which is not installed: install it beside greedynas with `npm install onnxruntime-node`/);
    const out = join(dir, 'run-out');
    r = withoutOrt([runJs, 'run', '--out', out, '--threads', '1', '--epochs', '1']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /run: `run` \(its last stage: ONNX parity and latency profile; skip that stage with --no-export\) needs the optional package onnxruntime-node/);
    assert.equal(existsSync(out), false, 'the refused run created its directory');
    // --no-export: the check does not apply; the command gets as far as its own validation.
    r = withoutOrt([runJs, 'run', '--out', out, '--no-export', '--threads', '1', '--epochs', '1', '--data', join(dir, 'no-such-data')]);
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /onnxruntime/);
    assert.match(r.stderr, /no-such-data/);
    assert.equal(existsSync(out), false, 'a run refused for its --data created its directory');
  });
});
