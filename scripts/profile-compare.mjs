#!/usr/bin/env node
// Where the time of a profiled run goes, by class of op, and how two runs of the same work compare
// (e.g. the greedy round's scoring in bfloat16 and in FP32):
//   AB_CHUNK=250 GNAS_CPU_PROFILE=1 node scripts/ab-round.mjs . bf16 2> bf16.txt
//   AB_CHUNK=250 GNAS_CPU_PROFILE=1 node scripts/ab-round.mjs . fp32 2> fp32.txt
//   node scripts/profile-compare.mjs bf16.txt fp32.txt
// Classes: 1x1 convs, other dense convs, depthwise convs (forward and backward apart; bfloat16
// and FP32 forms of an op in the same class), every other op by name. Per class and run: the
// profile's total ms, its share of the run, and for the convolutions the GFLOP/s taken over each
// op's fastest call (FLOPs x calls / fastest x calls: what the kernels do when the machine lets
// them; the totals carry every stall of a shared machine). With two runs, the last column is
// the second run's total over the first's. --by-shape adds, per run, every convolution row: its
// fastest call in ms, per image in us, and its GFLOP/s.
import { convFlops, isConv, readProfile, shapeDims } from './op-profile.mjs';

const byShape = process.argv.includes('--by-shape');
const files = process.argv.slice(2).filter((a) => a !== '--by-shape');
if (files.length < 1 || files.length > 2) {
  console.error('usage: node scripts/profile-compare.mjs PROFILE [PROFILE_B] [--by-shape]');
  process.exit(2);
}

function classOf(op, shape) {
  if (!isConv(op)) return op;
  const kind = op.startsWith('dwconv_') ? 'depthwise conv' : / k1 /.test(shape) ? '1x1 conv' : 'dense conv (k > 1)';
  return `${kind} ${op.includes('backward') ? 'backward' : 'forward'}`;
}

/** Per class: total ms, ms over fastest calls, FLOPs (convolutions only). */
function summarise(file) {
  const classes = new Map();
  let total = 0;
  for (const { total: ms, calls, fastest, op, shape } of readProfile(file)) {
    const cls = classOf(op, shape);
    const e = classes.get(cls) ?? { ms: 0, fastestMs: 0, flops: 0, conv: false };
    e.ms += ms;
    e.fastestMs += (fastest ?? NaN) * calls;
    if (isConv(op)) {
      e.conv = true;
      e.flops += convFlops(op, shape) * calls;
    }
    classes.set(cls, e);
    total += ms;
  }
  return { classes, total };
}

const runs = files.map(summarise);
const names = [...new Set(runs.flatMap((r) => [...r.classes.keys()]))];
names.sort((a, b) => (runs[0].classes.get(b)?.ms ?? 0) - (runs[0].classes.get(a)?.ms ?? 0));
const cell = (r, name) => {
  const e = r.classes.get(name);
  if (!e) return ''.padStart(33);
  const gf = e.conv && e.fastestMs > 0 ? (e.flops / (e.fastestMs * 1e6)).toFixed(0) : '-';
  return `${e.ms.toFixed(1).padStart(10)} ${((100 * e.ms) / r.total).toFixed(1).padStart(6)}% ${gf.padStart(14)}`;
};
const head = (i) => `${`run ${i + 1} ms`.padStart(10)} ${'share'.padStart(7)} ${'GFLOP/s (fast)'.padStart(14)}`;
console.log(`${'class'.padEnd(28)} ${runs.map((_, i) => head(i)).join('  ')}${runs.length === 2 ? '   run 2 / run 1' : ''}`);
for (const name of names) {
  const ratio = runs.length === 2 ? (runs[1].classes.get(name)?.ms ?? 0) / (runs[0].classes.get(name)?.ms ?? NaN) : null;
  console.log(`${name.padEnd(28)} ${runs.map((r) => cell(r, name)).join('  ')}${ratio === null ? '' : `${(Number.isFinite(ratio) ? ratio.toFixed(2) + 'x' : '-').padStart(17)}`}`);
}
console.log(`${'all ops'.padEnd(28)} ${runs.map((r) => `${r.total.toFixed(1).padStart(10)} ${'100.0%'.padStart(7)} ${''.padStart(14)}`).join('  ')}${runs.length === 2 ? `${(runs[1].total / runs[0].total).toFixed(2).padStart(16)}x` : ''}`);
for (const [i, f] of files.entries()) console.log(`run ${i + 1}: ${f}`);
if (byShape) {
  for (const [i, f] of files.entries()) {
    console.log(`\nrun ${i + 1}, convolutions by shape (fastest call): ms, us per image, GFLOP/s`);
    for (const { fastest, op, shape } of readProfile(f)) {
      if (!isConv(op) || fastest === undefined) continue;
      const perImage = (fastest * 1e3) / shapeDims(shape).N;
      const gf = convFlops(op, shape) / (fastest * 1e6);
      console.log(`${fastest.toFixed(4).padStart(9)} ${perImage.toFixed(2).padStart(8)} ${gf.toFixed(0).padStart(6)}  ${op}${shape}`);
    }
  }
}
