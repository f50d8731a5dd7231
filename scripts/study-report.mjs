// The table and diagnostics of docs/results.md from the run folders of scripts/study-cifar.sh:
//   node scripts/study-report.mjs OUT_DIR [DOCS_IMG_DIR]
// Prints markdown to stdout, writes OUT_DIR/study.json and, with DOCS_IMG_DIR, the combined
// scatter plot study-rank.svg/png there. Needs the built package (dist/). OUT_DIR may also be the
// committed records of the study (results/cifar-study: no checkpoints, logs gzipped).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { kendallTau, spearman } from '../dist/analysis/rank-stats.js';
import { writeScatter } from '../dist/report/plots.js';
import { costTable } from '../dist/space/cost.js';
import { loadSpaceFile } from '../dist/space/presets.js';

const [out, imgDir] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/study-report.mjs OUT_DIR [DOCS_IMG_DIR]');
  process.exit(2);
}
const readJson = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null);
const truth = readJson(join(out, 'truth', 'truth.json'));
if (!truth) throw new Error(`no ${join(out, 'truth', 'truth.json')}`);
const sample = new Set(readFileSync(join(out, 'truth', 'sample.txt'), 'utf8').split('\n').filter(Boolean));
const RUNS = ['uniform', 'fair', 'greedy', 'greedy-no-warmup', 'uniform-wallclock', 'fair-wallclock', 'uniform-s1', 'greedy-s1'];
const pct = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;

const sampleTruth = [...sample].map((k) => truth[k]).filter(Boolean);
const rows = [];
const diag = [];
let costs = null;
for (const name of RUNS) {
  const dir = join(out, name);
  const results = readJson(join(dir, 'results.json'));
  if (!results?.supernet) continue;
  const config = readJson(join(dir, 'config.json'));
  costs ??= costTable(loadSpaceFile(config.space).space);
  const rank = readJson(join(dir, 'rank.json'));
  const search = readJson(join(dir, 'search.json'));
  const epochs = results.supernet.epochs;
  // GreedyNAS's premise is ranking the good paths well: tau over the paths in the truth's top half.
  let tauTopHalf;
  if (rank?.paths?.[0]?.truth !== undefined) {
    const med = [...rank.paths.map((q) => q.truth)].sort((a, b) => a - b)[Math.floor(rank.paths.length / 2)];
    const top = rank.paths.filter((q) => q.truth >= med);
    tauTopHalf = kendallTau(top.map((q) => -q.loss), top.map((q) => q.truth));
  }
  const seconds = epochs.reduce((s, e) => s + e.seconds, 0);
  const searched = search?.runs?.[0]?.top?.[0] ?? null;
  const searchedTruth = searched ? truth[searched.key]?.accuracy : undefined;
  const band = searched ? sampleTruth.filter((t) => Math.abs(t.flops / searched.flops - 1) <= 0.1) : [];
  const row = {
    name,
    sampler: config.sampler,
    iterations: results.supernet.iterations,
    seconds,
    probe: 100 * epochs.at(-1).probeAccuracy,
    tau: rank?.byLoss?.kendallTau,
    tauTopHalf,
    rho: rank?.byLoss?.spearman,
    p10: rank?.byLoss?.precisionAtTop?.['10%'],
    p20: rank?.byLoss?.precisionAtTop?.['20%'],
    proxyBestTruth: rank?.byLoss?.proxyBest?.truth,
    proxyBestRank: rank?.byLoss?.proxyBest?.truthRank,
    table3Tau: rank?.table3?.kendallTau,
    batchAgreement: rank?.batchAgreement?.kendallTau,
    roundTau: rank?.byRoundLoss?.kendallTau,
    searched: searched?.key,
    searchedFlops: searched?.flops,
    searchedTruth,
    bandMean: band.length > 0 ? mean(band.map((t) => t.accuracy)) : undefined,
    bandCount: band.length,
  };
  const pool = readJson(join(dir, 'pool.json'));
  if (pool) {
    const known = pool.entries.map((e) => truth[e.arch.join('-')]).filter(Boolean);
    row.poolTruthMean = known.length > 0 ? mean(known.map((t) => t.accuracy)) : undefined;
    row.poolTruthCount = known.length;
    row.poolStop = epochs.find((e) => e.poolFull && e.pi <= config.alpha)?.epoch ?? null;
  }
  rows.push(row);

  // Diagnostics from the training log: how often and how burstily each op was trained, and what
  // greedy selection kept.
  // The committed records (results/cifar-study/) hold the log gzipped.
  const logText = existsSync(join(dir, 'log.jsonl')) ? readFileSync(join(dir, 'log.jsonl'), 'utf8') : gunzipSync(readFileSync(join(dir, 'log.jsonl.gz'))).toString('utf8');
  const log = logText.trim().split('\n').map((l) => JSON.parse(l));
  const L = costs.numLayers;
  const C = costs.numChoices;
  const counts = Array.from({ length: L }, () => new Array(C).fill(0));
  const last = Array.from({ length: L }, () => new Array(C).fill(-1));
  const gaps = Array.from({ length: L * C }, () => []);
  let t = 0;
  for (const r of log) {
    if (r.type !== 'train') continue;
    for (const key of r.paths ?? [r.path]) {
      key.split('-').map(Number).forEach((c, l) => {
        counts[l][c]++;
        if (last[l][c] >= 0) gaps[l * C + c].push(t - last[l][c]);
        last[l][c] = t;
      });
      t++;
    }
  }
  const cv = mean(counts.map((row) => Math.sqrt(mean(row.map((x) => (x - mean(row)) ** 2))) / mean(row)));
  const burst = mean(gaps.filter((g) => g.length > 2).map((g) => { const m = mean(g); const s = Math.sqrt(mean(g.map((x) => (x - m) ** 2))); return (s - m) / (s + m); }));
  const idCol = C - 1; // identity is the last op of the study space
  const idShare = mean(counts.map((row) => row[idCol] / row.reduce((a, b) => a + b, 0)));
  const minUpdates = Math.min(...counts.flat());
  const d = { name, updatesPerOp: t / C, cvOfOpUpdates: cv, burstiness: burst, identityShare: idShare, minUpdates };
  const rounds = log.filter((r) => r.type === 'round');
  if (rounds.length > 0) {
    const kept = [];
    const rejected = [];
    for (const r of rounds) r.paths.forEach((k, i) => (r.kept.includes(i) ? kept : rejected).push(k.split('-').map(Number)));
    const flopsOf = (a) => costs.archFlops(a) / 1e6;
    const idOf = (a) => a.filter((c) => c === idCol).length / a.length;
    Object.assign(d, { rounds: rounds.length, keptFlops: mean(kept.map(flopsOf)), rejectedFlops: mean(rejected.map(flopsOf)), keptIdentity: mean(kept.map(idOf)), rejectedIdentity: mean(rejected.map(idOf)), fromPool: mean(rounds.map((r) => r.fromPool.filter(Boolean).length / r.paths.length)) });
  }
  diag.push(d);
}

const truthAcc = sampleTruth.map((t) => t.accuracy);
const sorted = [...truthAcc].sort((a, b) => b - a);
const flopsTruth = { tau: kendallTau(sampleTruth.map((t) => t.flops), truthAcc), rho: spearman(sampleTruth.map((t) => t.flops), truthAcc) };
const lines = [];
// How far the truth itself can be trusted: the same paths trained with another seed.
const again = readJson(join(out, 'truth-s1', 'truth.json'));
let noise = null;
if (again) {
  const keys = Object.keys(again).filter((k) => truth[k]);
  const a = keys.map((k) => truth[k].accuracy);
  const b = keys.map((k) => again[k].accuracy);
  const diffs = keys.map((_, i) => Math.abs(a[i] - b[i]));
  noise = { paths: keys.length, kendallTau: kendallTau(a, b), spearman: spearman(a, b), meanAbsDiff: mean(diffs), maxAbsDiff: Math.max(...diffs) };
}
lines.push(`Ground truth: ${sampleTruth.length} uniformly sampled paths, test accuracy best ${pct(sorted[0], 2)}%, median ${pct(sorted[Math.floor(sorted.length / 2)], 2)}%, worst ${pct(sorted.at(-1), 2)}%. FLOPs alone rank them with Kendall tau ${pct(flopsTruth.tau, 3)} (Spearman ${pct(flopsTruth.rho, 3)}).`);
if (noise) {
  lines.push(
    `Truth noise: ${noise.paths} of these paths trained again with seed 1 (another training subset and initialisation): mean |difference| ${pct(noise.meanAbsDiff, 2)} points (max ${pct(noise.maxAbsDiff, 2)}), Kendall tau between the two seeds ${pct(noise.kendallTau, 3)}, Spearman ${pct(noise.spearman, 3)}.`,
  );
}
lines.push('');
lines.push('| supernet | iterations | train s | probe acc % | Kendall tau | tau, top half | Spearman | prec@10% | prec@20% | its best path: truth % (rank of ' + sampleTruth.length + ') | Table 3 tau | batch agreement tau | searched path truth % | random same-FLOPs truth % (n) |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  lines.push(
    `| ${r.name} | ${r.iterations} | ${pct(r.seconds, 0)} | ${pct(r.probe)} | ${pct(r.tau, 3)} | ${pct(r.tauTopHalf, 3)} | ${pct(r.rho, 3)} | ${pct(r.p10, 2)} | ${pct(r.p20, 2)} | ${pct(r.proxyBestTruth, 2)} (${r.proxyBestRank ?? 'n/a'}) | ${pct(r.table3Tau, 3)} | ${pct(r.batchAgreement, 3)} | ${r.searched ? `${pct(r.searchedTruth, 2)} (${r.searched}, ${pct(r.searchedFlops / 1e6, 2)}M)` : 'n/a'} | ${pct(r.bandMean, 2)} (${r.bandCount}) |`,
  );
}
lines.push('');
lines.push('| supernet | updates per op | CV of op updates | burstiness | identity share trained | fewest updates of an op | rounds | kept FLOPs M | rejected FLOPs M | kept identity share | rejected identity share | drawn from pool |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const d of diag) {
  lines.push(`| ${d.name} | ${pct(d.updatesPerOp, 0)} | ${pct(d.cvOfOpUpdates, 3)} | ${pct(d.burstiness, 3)} | ${pct(d.identityShare, 3)} | ${d.minUpdates} | ${d.rounds ?? '-'} | ${pct(d.keptFlops, 2)} | ${pct(d.rejectedFlops, 2)} | ${pct(d.keptIdentity, 3)} | ${pct(d.rejectedIdentity, 3)} | ${pct(d.fromPool, 3)} |`);
}
for (const r of rows.filter((x) => x.poolTruthCount !== undefined)) {
  lines.push('');
  lines.push(`${r.name}: the pool's paths with stand-alone truth: ${r.poolTruthCount}, mean ${pct(r.poolTruthMean, 2)}% (sample mean ${pct(mean(truthAcc), 2)}%); the stopping rule (full pool, pi <= alpha) would have fired after epoch ${r.poolStop ?? 'never'}.`);
}
console.log(lines.join('\n'));
writeFileSync(join(out, 'study.json'), JSON.stringify({ rows, diagnostics: diag, truth: { paths: sampleTruth.length, flopsTruth, noise } }, null, 1));

if (imgDir) {
  const points = [];
  for (const name of ['uniform', 'fair', 'greedy', 'greedy-no-warmup']) {
    const rank = readJson(join(out, name, 'rank.json'));
    if (!rank) continue;
    for (const p of rank.paths) points.push({ x: p.truth, y: 100 * p.accuracy, series: name });
  }
  await writeScatter(imgDir, 'study-rank', {
    title: 'Supernet accuracy of a path vs its stand-alone accuracy',
    subtitle: [`cifar-study, CIFAR-10 10k, ${sampleTruth.length} random paths, 1,400 iterations each`],
    xTitle: 'Stand-alone test accuracy (%)',
    yTitle: 'Supernet accuracy on held-out images (%)',
    points,
  });
}
