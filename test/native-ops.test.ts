// Runs the C++ test executables (native/tests, built by CMake next to the addon) and requires them
// to pass: gnas_op_tests (every built backend against the reference backend, op by op, and the
// reference's backward against finite differences) and gnas_supernet_tests (whole-supernet
// training in lockstep across backends, determinism, checkpoints across backends, the space
// description text format). Each prints one line per comparison and ends with "N passed, M failed";
// a CUDA part without a device prints SKIP lines with the reason.
//
// The executables are looked up in build/Release/ and build/ under the package root (found by
// walking up from this compiled file to package.json); GNAS_OP_TESTS / GNAS_SUPERNET_TESTS
// override the paths.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/util/package-root.js';


function findHarness(name: string, envVar: string): { path: string | undefined; tried: string[] } {
  const override = process.env[envVar];
  if (override) {
    const p = resolve(override);
    return { path: existsSync(p) ? p : undefined, tried: [`${p} (from ${envVar})`] };
  }
  const root = packageRoot();
  const exe = process.platform === 'win32' ? `${name}.exe` : name;
  const tried = [join(root, 'build', 'Release', exe), join(root, 'build', exe)];
  // the most recently built one wins when both exist
  const found = tried.filter((p) => existsSync(p)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return { path: found[0], tried };
}

function harnessPath(name: string, envVar: string): string {
  const { path, tried } = findHarness(name, envVar);
  assert.ok(
    path !== undefined,
    `${name} executable not found; looked at:\n  ${tried.join('\n  ')}\n` +
      `Build it with \`npm run build:native\` (or point ${envVar} at a built ${name}).`,
  );
  return path;
}

function runHarness(name: string, envVar: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): void {
  const path = harnessPath(name, envVar);
  const run = spawnSync(path, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024, env });
  assert.equal(run.error, undefined, `could not run ${path}: ${run.error?.message ?? ''}`);
  const stdout = run.stdout ?? '';
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const failures = lines.filter((l) => l.startsWith('FAIL'));
  const detail = `\n${failures.slice(0, 40).join('\n')}\n${(run.stderr ?? '').trim()}`;

  const summary = /^(\d+) passed, (\d+) failed$/.exec(lines[lines.length - 1] ?? '');
  assert.ok(summary, `no summary line at the end of ${path}'s output (exit ${run.status}, signal ${run.signal}):${detail}`);
  const passed = Number(summary[1]);
  const failed = Number(summary[2]);
  assert.equal(failed, 0, `${failed} check(s) of ${name} failed:${detail}`);
  assert.ok(passed > 0, `${name} ran no checks`);
  assert.equal(run.status, 0, `${path} exited with ${run.status} (signal ${run.signal}) despite 0 failures:${detail}`);
}

test('native op harness: every backend matches the reference, reference gradients match finite differences', () => {
  runHarness('gnas_op_tests', 'GNAS_OP_TESTS');
});

test('native supernet tests: lockstep training across backends, determinism, checkpoints across backends', () => {
  runHarness('gnas_supernet_tests', 'GNAS_SUPERNET_TESTS');
});

// Checks b-d on the CPU backend itself (the default run has them on CUDA, skipped without a GPU):
// among them the same seeded run twice, bit for bit, the second with one worker thread slowed
// (GNAS_CPU_SLOW_WORKER_US), so a loop whose sums depended on which thread ran which chunk fails.
test('native supernet tests on the CPU backend: determinism with a slowed worker, checkpoints', () => {
  runHarness('gnas_supernet_tests', 'GNAS_SUPERNET_TESTS', ['--backend', 'cpu']);
});

// The CPU backend streams an output out of cache (non-temporal stores: a depthwise backward's dx,
// a 1x1 forward's y) only when the op's operands exceed the last-level cache, which no test shape
// does; GNAS_CPU_STREAM_MIN_BYTES=0 takes those paths for every shape. The depthwise cases' dx rows
// also feed the input BN's sums on their way out (not streaming the last row of dx makes 202
// checks fail); doubling the 1x1 forward's streamed vectors fails 16 (convs, eval chains, head).
test('native op harness: the CPU backend with its outputs streamed out (GNAS_CPU_STREAM_MIN_BYTES=0)', () => {
  runHarness('gnas_op_tests', 'GNAS_OP_TESTS', ['--backend', 'cpu'], {
    ...process.env,
    GNAS_CPU_STREAM_MIN_BYTES: '0',
  });
  // the variable is read: a malformed value is named in the harness's failure
  const bad = spawnSync(harnessPath('gnas_op_tests', 'GNAS_OP_TESTS'), ['--filter', 'dwconv_backward'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, GNAS_CPU_STREAM_MIN_BYTES: '32k' },
  });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout + bad.stderr, /GNAS_CPU_STREAM_MIN_BYTES must be a byte count >= 0, got '32k'/);
});

// gnas_op_bench with `args`: its exit and its per-op rows (the JSON lines with an "op").
function runOpBench(args: string[]) {
  const run = spawnSync(harnessPath('gnas_op_bench', 'GNAS_OP_BENCH'), args, { encoding: 'utf8', timeout: 120_000 });
  const rows = (run.stdout ?? '').split('\n').filter((l) => l.startsWith('{"op"')).map((l) => JSON.parse(l));
  return { run, rows };
}

// gnas_op_bench --ab VAR=A,B (docs/performance.md, "Measuring a change on a shared machine"): each
// row alternates calls with VAR=A and VAR=B and reports the paired comparison; a malformed value
// is refused with exit 2 and names the form it wants.
test('gnas_op_bench --ab: rows carry the paired A/B comparison; a malformed --ab is refused', () => {
  const { run, rows } = runOpBench(['--threads', '1', '--batch', '4', '--min-ms', '1', '--filter', 'gap_forward', '--ab', 'GNAS_AB_PROBE=x,y']);
  assert.equal(run.status, 0, run.stderr);
  assert.ok(rows.length > 0, `no gap_forward row in:\n${run.stdout}`);
  for (const r of rows) {
    assert.deepEqual([r.ab.var, r.ab.a, r.ab.b], ['GNAS_AB_PROBE', 'x', 'y']);
    assert.ok(r.ab.pairs >= 20, `only ${r.ab.pairs} pairs`);
    assert.equal(r.ms, r.ab.a_best_ms);
    assert.ok(r.ab.b_best_ms > 0 && r.ab.a_median_ms >= r.ab.a_best_ms && r.ab.b_median_ms >= r.ab.b_best_ms);
    const [lo, hi] = r.ab.a_over_b_iqr;
    assert.ok(lo > 0 && lo <= r.ab.a_over_b && r.ab.a_over_b <= hi && Number.isFinite(hi), JSON.stringify(r.ab));
  }
  const bad = runOpBench(['--ab', 'GNAS_AB_PROBE=x']).run;
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--ab wants VAR=A,B .* got 'GNAS_AB_PROBE=x'/);
});

// The depthwise backward rows are read against the memory bandwidth probed right around them too
// (x_memory_limit_adjacent): the row's time over its compulsory bytes at that bandwidth.
test('gnas_op_bench: the depthwise backward rows carry the bandwidth probed next to them', () => {
  // batch 32: ~6 MB of compulsory traffic, so the row's mbytes (one decimal) is within 1% of it
  const { run, rows } = runOpBench(['--threads', '1', '--batch', '32', '--min-ms', '1', '--filter', 'dwconv_backward_fused N32 7x7 C480 K480 k3']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(rows.length, 1, run.stdout);
  const r = rows[0];
  assert.ok(r.adjacent_stream_gbps > 0, JSON.stringify(r));
  const expected = r.ms / (r.mbytes / r.adjacent_stream_gbps); // ms over the traffic's time at that bandwidth
  assert.ok(Math.abs(r.x_memory_limit_adjacent - expected) <= 0.01 + 0.02 * expected, `${JSON.stringify(r)}: expected ~${expected}`);
});
