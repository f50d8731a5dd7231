// Outputs people can read (issue 11): arch.json and the per-layer op table (src/space/arch-file.ts),
// metrics.csv and retrain-metrics.csv (src/pipeline/metrics-csv.ts), provenance in config.json and
// results.json (src/util/provenance.ts), ONNX files named by the weights they hold with the real op
// names in their metadata (src/pipeline/export.ts). The units are checked directly; then a tiny
// run on the shipped data (180 training images, one thread) goes through train-supernet, search,
// retrain --arch arch.json and export --arch arch.json as a user runs them, and an in-process
// retrain + export checks the retrained model's name and metadata (what `run` writes).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { exportStage } from '../src/pipeline/export.js';
import { modelMetadata, parseModel } from '../src/export/onnx.js';
import { archFile, archFileText, archFromArgument, ArchFileError, archOps, describeArch, formatArch, parseArchFile, readArchFile } from '../src/space/arch-file.js';
import { costTable } from '../src/space/cost.js';
import { loadSpace } from '../src/space/presets.js';
import { checkConfig, DEFAULTS } from '../src/pipeline/config.js';
import { retrainMetricsCsv, supernetMetricsCsv } from '../src/pipeline/metrics-csv.js';
import { prepare } from '../src/pipeline/prepare.js';
import { retrain } from '../src/pipeline/retrain.js';
import type { EpochSummary } from '../src/pipeline/train-supernet.js';
import { packageRoot } from '../src/util/package-root.js';
import { clockTime, stamped } from '../src/util/progress.js';
import { provenance } from '../src/util/provenance.js';

const root = packageRoot();
const runJs = join(root, 'dist', 'run.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [runJs, ...args], { encoding: 'utf8', timeout: 300_000 });
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const space = loadSpace('fmnist-small'); // ops k3e3, k3e6, k5e3, id; stages 24 x2 s2, 40 x2 s2, 64 x2 s2

describe('arch.json and the layer table', () => {
  const arch = [2, 3, 0, 1, 0, 3];

  test('every searchable layer with its op, channels, stride, size and cost', () => {
    const d = describeArch(space, arch);
    assert.equal(d.key, '2-3-0-1-0-3');
    assert.deepEqual(d.layers.map((l) => l.op), ['k5e3', 'id', 'k3e3', 'k3e6', 'k3e3', 'id']);
    assert.deepEqual(archOps(space, arch), ['k5e3', 'id', 'k3e3', 'k3e6', 'k3e3', 'id']);
    assert.deepEqual(d.layers[0], { layer: 'layers.0', op: 'k5e3', kind: 'mbconv', in: 16, out: 24, stride: 2, size: '28x28->14x14', flops: d.layers[0]!.flops, params: d.layers[0]!.params });
    assert.deepEqual(d.layers.map((l) => [l.in, l.out, l.stride]), [[16, 24, 2], [24, 24, 1], [24, 40, 2], [40, 40, 1], [40, 64, 2], [64, 64, 1]]);
    assert.equal(d.layers[1]!.kind, 'skip');
    // The path's total is its layers plus the fixed parts (stem, fixed blocks, head, classifier).
    const fixed = costTable(space).fixed.total;
    assert.equal(d.flops, d.layers.reduce((a, l) => a + l.flops, 0) + fixed.flops);
    assert.equal(d.params, d.layers.reduce((a, l) => a + l.params, 0) + fixed.params);
    assert.deepEqual(d.layers.map((l) => l.flops > 0), [true, false, true, true, true, false], 'only the identity layers are free');
    assert.deepEqual(formatArch(d), ['layers.0: k5e3, 16->24, s2', 'layers.1: id, 24->24, s1', 'layers.2: k3e3, 24->40, s2', 'layers.3: k3e6, 40->40, s1', 'layers.4: k3e3, 40->64, s2', 'layers.5: id, 64->64, s1']);
  });

  test('the file reads as a table, parses back to the path, and is checked against the space', () => {
    const text = archFileText(archFile(space, arch, { source: 'test' }));
    assert.match(text, /\n {4}\{"layer": "layers\.3", "op": "k3e6", "kind": "mbconv", "in": 40, "out": 40, "stride": 1, /);
    assert.match(text, /\n {2}"arch": \[2, 3, 0, 1, 0, 3\],\n/);
    const json = JSON.parse(text) as Record<string, unknown>;
    assert.equal(json.format, 'greedynas-arch/1');
    assert.equal(json.source, 'test');
    assert.deepEqual(parseArchFile(json, space, 'a.json'), arch);
    // A key alone is enough; so is the array alone.
    assert.deepEqual(parseArchFile({ key: '2-3-0-1-0-3' }, space, 'a.json'), arch);
    assert.deepEqual(parseArchFile({ arch }, space, 'a.json'), arch);
    const refuse = (obj: unknown, re: RegExp) => assert.throws(() => parseArchFile(obj, space, 'a.json'), (e: Error) => e instanceof ArchFileError && re.test(e.message));
    refuse({ ...json, key: '2-3-0-1-0-2' }, /a\.json: "key" 2-3-0-1-0-2 and "arch" \[2, 3, 0, 1, 0, 3\] disagree/);
    refuse({ key: '1-2-3' }, /a\.json: expected 6 choices \(one per searchable layer of the space 'fmnist-small'\), got 3/);
    refuse({ key: '0-0-0-0-0-7' }, /a\.json: choice 5 is 7, expected an integer in \[0, 3\] \(ops 0=k3e3 1=k3e6 2=k5e3 3=id\)/);
    refuse({ format: 'other/2', key: '0-0-0-0-0-0' }, /"format" is "other\/2", expected "greedynas-arch\/1"/);
    refuse({ note: 'nothing' }, /holds neither "key" nor "arch"/);
    // A file written for another space: the first layer that differs is named.
    const layers = (json.layers as Array<Record<string, unknown>>).map((l, i) => (i === 3 ? { ...l, op: 'k7e6' } : l));
    refuse({ ...json, space: 'other', layers }, /a\.json: layers\.3 has op "k7e6" but choice 1 of that layer in the space 'fmnist-small' has op "k3e6": the file was written for another space \(its "space" says "other"\)/);
  });

  test('--arch takes a key or a file; a missing or broken file is named', () => {
    const d = mkdtempSync(join(tmpdir(), 'gnas-arch-'));
    const file = join(d, 'arch.json');
    writeFileSync(file, archFileText(archFile(space, arch)));
    assert.deepEqual(archFromArgument('2-3-0-1-0-3', space), arch);
    assert.deepEqual(archFromArgument(file, space), arch);
    assert.deepEqual(readArchFile(file, space), arch);
    assert.throws(() => archFromArgument('9-9', space), /--arch 9-9: expected 6 choices/);
    assert.throws(() => archFromArgument(join(d, 'none.json'), space), /none\.json: cannot read the arch file \(no such file\)/);
    writeFileSync(file, '{"key": ');
    assert.throws(() => archFromArgument(file, space), /arch\.json: not valid JSON/);
  });
});

describe('metrics.csv', () => {
  test('one row per epoch, every column named, empty cells for what a sampler does not have', () => {
    const e: EpochSummary = { epoch: 1, iterations: 84, trainLoss: 2.1, trainAccuracy: 0.25, probeLoss: 2.2, probeAccuracy: 0.2, seconds: 3.5 };
    const g: EpochSummary = { ...e, epoch: 2, iterations: 168, poolBestLoss: 1.5, poolBestAccuracy: 0.5, poolBest: '0-1-2', pi: 0.25, poolSize: 67, poolFull: true };
    assert.equal(
      supernetMetricsCsv([e, g]),
      [
        'epoch,iterations,train_loss,train_accuracy,probe_loss,probe_accuracy,pool_best_loss,pool_best_accuracy,pool_best,pi,pool_size,seconds',
        '1,84,2.1,0.25,2.2,0.2,,,,,,3.5',
        '2,168,2.1,0.25,2.2,0.2,1.5,0.5,0-1-2,0.25,67,3.5',
        '',
      ].join('\n'),
    );
    assert.equal(retrainMetricsCsv([{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5, seconds: 2 }]), 'epoch,train_loss,train_accuracy,seconds\n1,1,0.5,2\n');
  });
});

describe('provenance', () => {
  test('package version, commit of this checkout, machine, threads, Node', () => {
    const p = provenance({ threads: 0, gpus: 0 });
    const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
    assert.deepEqual(p.package, { name: pj.name, version: pj.version });
    assert.equal(p.node, process.version);
    assert.ok(p.cpu.cores >= 1 && p.cpu.model.length > 0);
    assert.equal(p.threads, p.cpu.cores, 'threads 0 is recorded as the cores it means');
    assert.equal(provenance({ threads: 3 }).threads, 3);
    const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
    if (git.status === 0) assert.equal(p.gitCommit?.slice(0, 40), git.stdout.trim());
    else assert.equal(p.gitCommit, null);
  });
});

describe('log lines', () => {
  test('start with the local time of day; a leading blank line stays blank, lines under the first keep their indent', () => {
    const at = new Date(2026, 0, 2, 9, 5, 7);
    assert.equal(clockTime(at), '09:05:07');
    assert.equal(stamped('epoch 1/5: loss 2.3', at), '09:05:07 epoch 1/5: loss 2.3');
    assert.equal(stamped('\n== 2/4 search', at), '\n09:05:07 == 2/4 search');
    assert.equal(stamped('retraining 0-1:\n  layers.0: k3e3', at), '09:05:07 retraining 0-1:\n  layers.0: k3e3');
  });
});

describe('a run as a user reads it (CLI, shipped data, one thread)', () => {
  const d = mkdtempSync(join(tmpdir(), 'gnas-readable-'));
  const out = join(d, 'run');
  const tiny = ['--space', 'fmnist-small', '--data', 'fmnist-mini', '--train-per-class', '30', '--threads', '1', '--quiet'];

  test('train-supernet: metrics.csv per epoch, provenance in config.json and results.json, the early stop on the curves', () => {
    // 5 epochs: with seed 0 on one thread the stopping rule fires after epoch 4 on the machines
    // this was written on (the marker is then checked here; plots.test.ts checks it regardless).
    const r = cli('train-supernet', ...tiny, '--batch', '32', '--epochs', '5', '--val-images', '50', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const results = readJson(join(out, 'results.json')) as { supernet: { epochs: unknown[]; stoppedBy: string }; provenance: { package: { version: string }; threads: number; node: string } };
    const rows = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    assert.equal(rows[0], 'epoch,iterations,train_loss,train_accuracy,probe_loss,probe_accuracy,pool_best_loss,pool_best_accuracy,pool_best,pi,pool_size,seconds');
    assert.equal(rows.length - 1, results.supernet.epochs.length);
    assert.deepEqual(rows.slice(1).map((l) => l.split(',')[0]), results.supernet.epochs.map((_, i) => String(i + 1)));
    for (const file of ['config.json', 'results.json']) {
      const prov = (readJson(join(out, file)) as { provenance?: { package: { version: string }; threads: number; node: string; cpu: { cores: number } } }).provenance;
      assert.ok(prov, `${file} has no provenance`);
      assert.equal(prov.threads, 1);
      assert.equal(prov.node, process.version);
      assert.match(prov.package.version, /^\d+\.\d+\.\d+/);
    }
    // every log line starts with the time of day (lines under one, a layer table, are indented),
    // and every log.jsonl record says when it was written
    const logLines = r.stdout.split('\n').filter((l) => l.length > 0 && !l.startsWith(' '));
    assert.ok(logLines.length > 0);
    for (const l of logLines) assert.match(l, /^\d\d:\d\d:\d\d \S/);
    for (const l of readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n')) {
      assert.match((JSON.parse(l) as { time: string }).time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const svg = readFileSync(join(out, 'training-curves.svg'), 'utf8');
    const stop = /after epoch (\d+)$/.exec(results.supernet.stoppedBy);
    if (stop && Number(stop[1]) < 5) {
      assert.match(svg, />early stop</);
      assert.match(svg, new RegExp(`stopping rule \\(π ≤ α = 0.08\\) after epoch ${stop[1]} of 5`));
    } else {
      assert.doesNotMatch(svg, />early stop</);
    }
    assert.match(svg, /random probe paths \(held-out\)/);
    assert.match(svg, /pool best \(held-out\)/);
  });

  test('search: arch.json beside search.json names every layer; search.json and results.json carry op names and both bests per generation', () => {
    const r = cli('search', '--out', out, '--threads', '1', '--population', '6', '--generations', '3', '--search-images', '30', '--quiet');
    assert.equal(r.status, 0, r.stderr);
    const search = readJson(join(out, 'search.json')) as { runs: Array<{ top: Array<{ key: string; arch: number[]; ops: string[] }>; generations: Array<{ bestAccuracy: number; generationBestAccuracy: number }> }> };
    const best = search.runs[0]!.top[0]!;
    assert.deepEqual(best.ops, archOps(space, best.arch));
    for (const g of search.runs[0]!.generations) assert.ok(g.generationBestAccuracy <= g.bestAccuracy + 1e-12);
    const arch = readJson(join(out, 'arch.json')) as { key: string; layers: Array<{ layer: string; op: string }>; source: string };
    assert.equal(arch.key, best.key);
    assert.deepEqual(arch.layers.map((l) => l.op), best.ops);
    assert.match(arch.source, /^search: best of the pool-seeded evolution search/);
    const results = readJson(join(out, 'results.json')) as { search: { best: Array<{ ops: string[] }> } };
    assert.deepEqual(results.search.best[0]!.ops, best.ops);
    assert.match(r.stdout, new RegExp(`best path ${best.key} \\(written to .*arch\\.json\\):\\n  layers\\.0: ${best.ops[0]}( \\(1x1 conv\\))?, 16->24, s2`));
  });

  test('retrain --arch arch.json: the layer table, arch.json of the retrained path, retrain-metrics.csv, retrain-curves', () => {
    const key = (readJson(join(out, 'arch.json')) as { key: string }).key;
    const r = cli('retrain', '--out', out, '--arch', join(out, 'arch.json'), '--retrain-epochs', '2', '--threads', '1', '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`retraining ${key}:\\n  layers\\.0: `));
    const arch = readJson(join(out, 'arch.json')) as { key: string; source: string; testAccuracy: number };
    assert.equal(arch.key, key);
    assert.match(arch.source, /^retrain: trained from scratch for 2 epochs/);
    assert.ok(arch.testAccuracy >= 0 && arch.testAccuracy <= 1);
    const results = readJson(join(out, 'results.json')) as { retrain: { arch: string; ops: string[]; layers: Array<{ layer: string; op: string; in: number; out: number; stride: number }> } };
    assert.equal(results.retrain.arch, key);
    assert.deepEqual(results.retrain.layers.map((l) => l.op), archOps(space, key.split('-').map(Number)));
    assert.equal(readFileSync(join(out, 'retrain-metrics.csv'), 'utf8').trim().split('\n').length, 3);
    assert.ok(existsSync(join(out, 'retrain-curves.png')));
    assert.match(readFileSync(join(out, 'retrain-curves.svg'), 'utf8'), new RegExp(`path ${key}: `));
  });

  test('export --arch arch.json: supernet-<key>.onnx, with the path\'s op names in its metadata', async () => {
    const key = (readJson(join(out, 'arch.json')) as { key: string }).key;
    const r = cli('export', '--out', out, '--arch', join(out, 'arch.json'), '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    const model = join(out, `supernet-${key}.onnx`);
    for (const f of [model, join(out, `supernet-${key}.check.json`), join(out, `supernet-${key}.profile.json`)]) assert.ok(existsSync(f), `missing ${f}`);
    assert.ok(!readdirSync(out).some((f) => f.startsWith('best-')), 'an old best-<key> name is still written');
    const meta = modelMetadata(parseModel(await readFile(model)));
    assert.equal(meta.arch, key);
    assert.equal(meta.ops, archOps(space, key.split('-').map(Number)).join(','));
    assert.equal(meta['greedynas.weights'], 'supernet');
    assert.match(r.stdout, new RegExp(`parity OK: .*supernet-${key}\\.onnx \\(arch ${key}, `));
  });
});

describe('the retrained model that `run` exports', () => {
  test('is retrained-<key>.onnx, and its metadata and parity name the searched path and its ops, not 0-0-0 and "chosen"', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gnas-retrained-'));
    const config = checkConfig({ ...DEFAULTS, space: 'fmnist-small', data: 'fmnist-mini', out: join(d, 'run'), trainPerClass: 20, threads: 1, retrainEpochs: 1, retrainBatch: 64 });
    const p = await prepare(config);
    const arch = [1, 3, 2, 0, 2, 1];
    const key = arch.join('-');
    const lines: string[] = [];
    const r = await retrain(p, arch, { log: (l) => lines.push(l), resume: false, quiet: true, checkpoints: false });
    const out = (await exportStage(p, r, { log: (l) => lines.push(l) })) as { model: string; metadata: Record<string, string>; parity: { arch: string; passed: boolean } };
    assert.equal(out.model, join(p.dir, `retrained-${key}.onnx`));
    assert.equal(out.metadata.arch, key);
    assert.equal(out.metadata.ops, 'k3e6,id,k5e3,k3e3,k5e3,k3e6');
    assert.equal(out.metadata.space, 'fmnist-small');
    assert.equal(out.metadata['greedynas.weights'], 'retrained');
    assert.equal(out.parity.arch, key);
    assert.ok(out.parity.passed);
    assert.ok(lines.some((l) => l.startsWith(`parity OK: ${out.model} (arch ${key}, `)), lines.join('\n'));
    const check = readJson(join(p.dir, `retrained-${key}.check.json`)) as { arch: string };
    assert.equal(check.arch, key);
  });
});
