#!/usr/bin/env node
// Roofline bound of a training step from its per-op profile: how much of the FMA peak a step could
// reach at best on this machine, given that some ops must move more bytes than the memory can
// deliver in the time their FLOPs take.
//   GNAS_CPU_PROFILE=1 node scripts/ab-step.mjs . train 30 2> prof.txt
//   node scripts/step-roofline.mjs prof.txt PEAK_GFLOPS BANDWIDTH_GBS [CACHE_MB] [--fastest]
// PEAK_GFLOPS and BANDWIDTH_GBS: the `peak_gflops` and `stream_nt_gbps` that gnas_op_bench prints
// for the same threads. Per op, the bound is max(FLOPs / peak, compulsory bytes / bandwidth), where
// the compulsory bytes are each operand tensor read once and each output written once (float32,
// no read-for-ownership), and an op whose tensors total less than CACHE_MB (default 16, half of a
// 32 MB last-level cache) is taken to need no memory time at all. Both choices favour the kernels,
// but an op whose operands are still in cache from the op before can beat its memory term (on the
// Zen 4 VM the large add_inplace read 0.74x of it), so the total is an estimate of the ceiling, not
// a proof; the script prints the measured time per op class next to its bound.
// --fastest takes each op's fastest call times its calls instead of its total: on a shared machine
// the total carries every stall of the other tenants, the fastest call is what the kernel can do.
// The last line is a ceiling for kernels that stay separate ops (docs/performance.md, "What 75% of
// the peak would take"): the dense convs at GEMM_SHARE of the peak (--gemm-share, default 0.85:
// what the plain 1x1 GEMMs reach alone in gnas_op_bench) or their memory term if larger, the
// depthwise ops at 1.0x and 1.3x their bound, every other op as measured; an op already faster
// than that counts as measured.
// FLOPs count 2 per multiply-add of the convolutions only (as the bench's % peak does); batch
// norm, activations and adds count as memory traffic only.
import { convFlops, isConv, readProfile, shapeDims } from './op-profile.mjs';

const args = process.argv.slice(2);
const fastest = args.includes('--fastest');
const shareAt = args.indexOf('--gemm-share');
const gemmShare = shareAt >= 0 ? Number(args[shareAt + 1]) : 0.85;
const positional = args.filter((a, i) => a !== '--fastest' && (shareAt < 0 || (i !== shareAt && i !== shareAt + 1)));
const [file, peakArg, bwArg, cacheArg] = positional;
const peak = Number(peakArg) * 1e9;
const bw = Number(bwArg) * 1e9;
const cacheBytes = Number(cacheArg ?? 16) * 2 ** 20;
if (!file || !(peak > 0) || !(bw > 0) || !(cacheBytes >= 0) || !(gemmShare > 0 && gemmShare <= 1)) {
  console.error('usage: node scripts/step-roofline.mjs PROFILE_FILE PEAK_GFLOPS BANDWIDTH_GBS [CACHE_MB] [--fastest] [--gemm-share F]');
  process.exit(2);
}

const rows = readProfile(file);

/** FLOPs and compulsory bytes of one call, from the profile's op name and shape. */
function cost(op, shape) {
  const { N, H, W, C, K, s, M, n } = shapeDims(shape);
  const f = 4;
  if (isConv(op)) {
    const P = Math.ceil(H / s), Q = Math.ceil(W / s);
    const x = N * H * W * C * f, y = N * P * Q * K * f;
    const flops = convFlops(op, shape);
    if (op.includes('forward')) return { flops, bytes: x + y };
    // backward: dy (and the unit's pre-BN output with out_bn) and x read, dx written (the stem,
    // C <= 3, has no dx: convFlops leaves its input gradient out too)
    const hasDx = C > 3;
    return { flops, bytes: y * (shape.includes('+out_bn') ? 2 : 1) + x + (hasDx ? x : 0) };
  }
  if (op === 'bn_act_backward') return { flops: 0, bytes: 2 * M * C * f };  // dy and z read (sums)
  if (op === 'bn_act_apply') return { flops: 0, bytes: 2 * M * C * f };
  if (op === 'bn_act_residual_apply') return { flops: 0, bytes: 3 * M * C * f };
  if (op === 'add_inplace') return { flops: 0, bytes: 3 * n * f };
  if (op === 'gap_backward' || op === 'gap_forward') return { flops: 0, bytes: M * C * f };
  return { flops: 0, bytes: 0 };  // fc, softmax, sgd, normalize: small
}

const classes = new Map();
let totalMs = 0, totalBound = 0, totalFlops = 0;
// the separate-op ceiling's parts (ms over all calls): dense convs at gemmShare, depthwise ops at
// 1.0x / 1.3x their bound, the rest (each op as measured where that is faster)
let denseAtShare = 0, dwAt1 = 0, dwAt13 = 0, otherMs = 0;
for (const { total: sum, calls, fastest: minMs, op, shape } of rows) {
  if (fastest && minMs === undefined) throw new Error(`${file}: --fastest needs a profile with the "min ms" column`);
  const total = fastest ? minMs * calls : sum;
  const { flops, bytes } = cost(op, shape);
  const memBytes = bytes >= cacheBytes ? bytes : 0;
  const bound = Math.max(flops / peak, memBytes / bw) * calls * 1e3;  // ms over all calls
  const cls = `${op}${/ k1 /.test(shape) ? ' 1x1' : ''}${memBytes > 0 ? ' (memory-sized)' : ''}`;
  const e = classes.get(cls) ?? { ms: 0, bound: 0 };
  e.ms += total;
  e.bound += bound;
  classes.set(cls, e);
  totalMs += total;
  totalBound += bound;
  totalFlops += flops * calls;
  if (op.startsWith('conv_')) {
    denseAtShare += Math.min(total, Math.max(flops / (peak * gemmShare), memBytes / bw) * calls * 1e3);
  } else if (op.startsWith('dwconv_')) {
    dwAt1 += Math.min(total, bound);
    dwAt13 += Math.min(total, 1.3 * bound);
  } else {
    otherMs += total;
  }
}
console.log(`op class                                     measured ms  bound ms  measured / bound`);
for (const [cls, e] of [...classes].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`${cls.padEnd(44)} ${e.ms.toFixed(1).padStart(11)} ${e.bound.toFixed(1).padStart(9)} ${(e.bound > 0 ? (e.ms / e.bound).toFixed(2) + 'x' : '-').padStart(17)}`);
}
const pct = (ms) => ((totalFlops / (ms / 1e3)) / peak) * 100;
console.log(`all ops: measured ${totalMs.toFixed(1)} ms (${pct(totalMs).toFixed(1)}% of peak), roofline bound ${totalBound.toFixed(1)} ms (${pct(totalBound).toFixed(1)}% of peak at best)`);
const at1 = denseAtShare + dwAt1 + otherMs, at13 = denseAtShare + dwAt13 + otherMs;
console.log(`separate-op ceiling: dense convs at ${(gemmShare * 100).toFixed(0)}% of peak ${denseAtShare.toFixed(1)} ms, depthwise ops at their bound ${dwAt1.toFixed(1)} ms, the rest as measured ${otherMs.toFixed(1)} ms: ${at1.toFixed(1)} ms (${pct(at1).toFixed(1)}% of peak); depthwise at 1.3x their bound ${at13.toFixed(1)} ms (${pct(at13).toFixed(1)}%)`);
