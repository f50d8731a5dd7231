// The per-op profile's analysis scripts (scripts/op-profile.mjs, profile-compare.mjs,
// step-roofline.mjs) on a small hand-made profile whose figures are worked out below, so that a
// change to the parsing or the FLOP counts shows here rather than in a wrong figure in the docs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';

import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const dir = mkdtempSync(join(tmpdir(), 'gnas-profile-'));

/** A profile as the CPU backend prints it (GNAS_CPU_PROFILE=1), with each total times `scale`. */
function profile(name: string, scale: number): string {
  const row = (total: number, calls: number, fastest: number, op: string) =>
    `${(total * scale).toFixed(2).padStart(10)} ${String(calls).padStart(8)} ${((total * scale) / calls).toFixed(4).padStart(10)} ${fastest.toFixed(4).padStart(10)}  ${op}`;
  const file = join(dir, name);
  writeFileSync(
    file,
    [
      'some earlier output',
      `cpu backend profile: ${(8 * scale).toFixed(1)} ms in ops`,
      '  total ms    calls    ms/call     min ms  op',
      row(4, 2, 1, 'conv_forward_fused N128 7x7 C80 K480 k1 s1 +stats'),
      row(3, 1, 2, 'dwconv_forward_fused N128 7x7 C480 K480 k5 s1 +in_bn +stats'),
      row(1, 1, 1, 'bn_act_apply M6272 C480'),
      '',
    ].join('\n'),
  );
  return file;
}

function run(script: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [join(root, 'scripts', script), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// FLOPs per call: the 1x1 conv 2 * 128 * 49 * 80 * 480 = 481,689,600; the depthwise conv
// 2 * 128 * 49 * 480 * 25 = 150,528,000.
describe('per-op profile scripts', () => {
  test('op-profile.mjs reads the table and counts a backward call as two GEMMs, a stem backward as one', async () => {
    const mod = (await import(pathToFileURL(join(root, 'scripts', 'op-profile.mjs')).href)) as {
      readProfile(file: string): { total: number; calls: number; fastest?: number; op: string; shape: string }[];
      convFlops(op: string, shape: string): number;
    };
    const rows = mod.readProfile(profile('a.txt', 1));
    assert.deepEqual(
      rows.map((r) => [r.op, r.total, r.calls, r.fastest]),
      [
        ['conv_forward_fused', 4, 2, 1],
        ['dwconv_forward_fused', 3, 1, 2],
        ['bn_act_apply', 1, 1, 1],
      ],
    );
    assert.equal(mod.convFlops('conv_forward_fused', ' N128 7x7 C80 K480 k1 s1'), 481_689_600);
    assert.equal(mod.convFlops('conv_backward_fused', ' N128 7x7 C80 K480 k1 s1 +out_bn'), 2 * 481_689_600);
    // the stem (3 input channels, stride 2: 112x112 -> 56x56) has no input gradient
    assert.equal(mod.convFlops('conv_backward_fused', ' N2 112x112 C3 K16 k3 s2'), 2 * 2 * 56 * 56 * 3 * 16 * 9);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, 'no profile here\n');
    assert.throws(() => mod.readProfile(empty), /no "cpu backend profile" table/);
  });

  test('profile-compare.mjs: class totals, shares, GFLOP/s over the fastest calls, and the ratio of two runs', () => {
    const out = run('profile-compare.mjs', profile('a.txt', 1), profile('b.txt', 2.5));
    const line = (name: string) => {
      const l = out.split('\n').find((s) => s.startsWith(name));
      assert.ok(l, `no "${name}" line in:\n${out}`);
      return l.slice(28).trim().split(/\s+/);
    };
    // 1x1: 4 ms of 8 (50%); 2 calls at 1 ms fastest: 963,379,200 FLOPs in 2 ms = 482 GFLOP/s
    assert.deepEqual(line('1x1 conv forward'), ['4.0', '50.0%', '482', '10.0', '50.0%', '482', '2.50x']);
    // depthwise: 3 ms (37.5%); one call at 2 ms: 75 GFLOP/s
    assert.deepEqual(line('depthwise conv forward'), ['3.0', '37.5%', '75', '7.5', '37.5%', '75', '2.50x']);
    assert.deepEqual(line('bn_act_apply'), ['1.0', '12.5%', '-', '2.5', '12.5%', '-', '2.50x']);
    assert.deepEqual(line('all ops'), ['8.0', '100.0%', '20.0', '100.0%', '2.50x']);
  });

  test('profile-compare.mjs --by-shape: each convolution row by its fastest call', () => {
    const out = run('profile-compare.mjs', profile('a.txt', 1), '--by-shape');
    const rows = out.split('\n').filter((l) => /_fused N128/.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 4));
    // 1x1: 1 ms, 1000 us / 128 images = 7.81 us, 482 GFLOP/s; depthwise: 2 ms, 15.63 us, 75 GFLOP/s
    assert.deepEqual(rows, [
      ['1.0000', '7.81', '482', 'conv_forward_fused'],
      ['2.0000', '15.63', '75', 'dwconv_forward_fused'],
    ]);
  });

  test("step-roofline.mjs: the share of the peak from each op's fastest call", () => {
    const out = run('step-roofline.mjs', profile('a.txt', 1), '450', '46', '--fastest');
    // fastest calls: 2 x 1 + 1 x 2 + 1 x 1 = 5 ms for 1,113,907,200 FLOPs: 222.8 GFLOP/s, 49.5% of 450
    assert.match(out, /all ops: measured 5\.0 ms \(49\.5% of peak\)/);
  });
});
