// The bad-input corpus (issue 10): one table of bad inputs a user can give (options, --config
// files, spaces, datasets in IDX files and image folders, checkpoints, run directories, arch keys,
// library arguments) and the fixed defects of issue 10 (a second run into a run directory, resume
// with changed settings, --threads 999, arch keys such as "6x-1.9-2abc-0"). Each row expects a
// specific exit status and message (CLI) or error class / code and message (library), and that
// afterwards every run directory the row could touch is byte for byte as it was and no folder was
// created for a refused command. Positive rows (a symlinked image folder, the run's own
// config.json as --config) check that a good input is not refused.
// Breadth over depth: the CLI rows call the CLI's main() in this process (what dist/run.js runs,
// without a process start each: ~0.4 s saved per row); three rows spawn the real CLI to check the
// exit status end to end. Deeper tests of single areas live elsewhere: test/cli-polish.test.ts
// (did-you-mean, ignored options), test/run-dir.test.ts (run records, resume, orphans, Ctrl-C),
// test/engine.test.ts (engine arguments, dispose), test/data-*.test.ts, test/space.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import sharp from 'sharp';

import { kendallTau } from '../src/analysis/rank-stats.js';
import { main } from '../src/cli/main.js';
import { createDataset, DataError, openDataset } from '../src/data/index.js';
import { BatchLoader } from '../src/data/loader.js';
import { encodeIdx } from '../src/data/idx.js';
import { Supernet } from '../src/native/engine.js';
import { ConstraintError } from '../src/sampling/constraints.js';
import { CandidatePool } from '../src/sampling/pool.js';
import { UniformSampler } from '../src/sampling/uniform.js';
import { archSpaceOf } from '../src/space/arch.js';
import { costTable } from '../src/space/cost.js';
import { loadSpace, SpaceLoadError } from '../src/space/presets.js';
import { resolveSpace, SpaceError } from '../src/space/resolve.js';
import { parseArchKey, type SpaceFile } from '../src/space/types.js';
import { packageRoot } from '../src/util/package-root.js';
import { MINI_SPACE_FILE, miniSpace as miniSpaceOf } from './helpers/spaces.js';
import { snapshot } from './helpers/tree.js';

const root = packageRoot();
const d = mkdtempSync(join(tmpdir(), 'gnas-corpus-'));
const at = (...p: string[]) => join(d, ...p);
const spaceFile = at('mini.json');
copyFileSync(MINI_SPACE_FILE, spaceFile);
const miniSpace = miniSpaceOf();
/** The good run every row must leave alone: greedy, 2 epochs of 11 iterations, with a pool. */
const run = at('run');
/** A copy of it whose checkpoints are broken (rows that load them). */
const broken = at('run-broken-checkpoints');
const cores = availableParallelism();

/** Settings of a tiny training (20 images per class, batch 16), the run's own. */
const tiny = ['--space', spaceFile, '--train-per-class', '20', '--batch', '16', '--epochs', '2', '--m', '4', '--k', '2', '--val-images', '20', '--threads', '1', '--quiet'];
/** A fresh --out for a row: a refused command must not create it. */
let fresh = 0;
const newOut = () => at(`fresh-${fresh++}`);

interface CliRow {
  name: string;
  /** Arguments of the CLI; `out` is replaced by a fresh folder that must not be created. */
  cli: string[];
  status: number;
  stderr: RegExp;
  /** Spawn dist/run.js instead of calling main() here. */
  spawn?: boolean;
}
interface LibRow {
  name: string;
  call: () => unknown;
  /** The error's class, and its `code` when it has one. */
  error: new (...a: never[]) => Error;
  code?: string;
  message: RegExp;
}
interface OkRow {
  name: string;
  ok: () => Promise<void>;
}
type Row = CliRow | LibRow | OkRow;

const OUT = '<fresh out>';
const train = (...args: string[]) => ['train-supernet', ...tiny, '--out', OUT, ...args];
const withData = (data: string) => train('--data', data);

/** Runs the CLI in this process, capturing what it prints (main() prints through console). */
async function cliHere(args: string[]): Promise<{ status: number; stderr: string }> {
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = () => undefined;
  console.error = (...a: unknown[]) => err.push(a.map(String).join(' '));
  try {
    return { status: await main(args), stderr: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

function cliSpawn(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'run.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stderr: r.stderr };
}

const rows: Row[] = [
  // ---- options
  { name: '--epochs 0', cli: train('--epochs', '0'), status: 2, stderr: /^train-supernet: --epochs: expected >= 1, got 0$/ },
  { name: '--batch 1.5', cli: train('--batch', '1.5'), status: 2, stderr: /--batch: expected an integer, got 1\.5/ },
  { name: '--lr NaN', cli: train('--lr', 'NaN'), status: 2, stderr: /--lr: expected a number, got "NaN"/ },
  { name: '--lr -1', cli: train('--lr=-1'), status: 2, stderr: /--lr: expected >= 0, got -1/ },
  { name: '--momentum 2', cli: train('--momentum', '2'), status: 2, stderr: /--momentum: expected <= 1, got 2/ },
  { name: '--val-fraction 0.9', cli: train('--val-fraction', '0.9'), status: 2, stderr: /--val-fraction: expected <= 0\.5, got 0\.9/ },
  { name: '--seed 1e20 (was exit 1 from the RNG, naming no option)', cli: train('--seed', '1e20'), status: 2, stderr: /--seed: expected <= 4294967295, got 100000000000000000000/ },
  { name: '--flops-max 5Q', cli: train('--flops-max', '5Q'), status: 2, stderr: /--flops-max: expected a number, got "5Q"/ },
  { name: '--pool-size 2.5', cli: train('--pool-size', '2.5'), status: 2, stderr: /--pool-size: expected an integer, got 2\.5/ },
  { name: '--math bf16 on the CPU', cli: train('--math', 'bf16'), status: 2, stderr: /--math bf16 applies to GPU runs only/ },
  { name: '--score-math fp16', cli: train('--score-math', 'fp16'), status: 2, stderr: /^train-supernet: --score-math: expected one of fp32, bf16, auto, got 'fp16'$/ },
  { name: '--flops-bins with the greedy sampler', cli: train('--flops-bins', '4'), status: 2, stderr: /--flops-bins applies to --sampler uniform only/ },
  { name: '--threads -1', cli: train('--threads=-1'), status: 2, stderr: /--threads: expected >= 0, got -1/ },
  { name: '--threads 999 (issue 10, 6: was accepted and ran ~50x slower)', cli: train('--threads', '999'), status: 2, stderr: new RegExp(`--threads 999: at most 4 x the ${cores} cores of this machine \\(${4 * cores}\\)`), spawn: true },
  { name: '--out ""', cli: ['train-supernet', ...tiny, '--out', ''], status: 2, stderr: /--out: expected a non-empty string, got ""/ },
  { name: '--out a file', cli: ['train-supernet', ...tiny, '--out', spaceFile], status: 2, stderr: /--out .*mini\.json: cannot create the run directory \(EEXIST: file already exists\): choose a writable --out/ },
  { name: '--batch larger than the training split (wrote split.json before refusing)', cli: train('--batch', '512'), status: 2, stderr: /--batch 512 is larger than the 180 images of the training split \(after --train-per-class and --val-fraction\), so an epoch would have no batch: lower --batch/ },
  { name: '--retrain-batch larger than the training set', cli: ['retrain', '--space', spaceFile, '--train-per-class', '20', '--threads', '1', '--arch', '0-0-0-0', '--retrain-batch', '300', '--out', OUT], status: 2, stderr: /--retrain-batch 300 is larger than the 200 training images/ },
  { name: 'an option of another command', cli: ['search', '--out', run, '--epochs', '3'], status: 2, stderr: /--epochs does not apply to 'search' \(it is an option of train-supernet, run\)/ },
  { name: '--population 1', cli: ['search', '--out', run, '--population', '1', '--threads', '1'], status: 2, stderr: /--population: expected >= 2, got 1/ },
  // ---- --config files
  { name: '--config missing', cli: train('--config', at('no-config.json')), status: 2, stderr: /--config .*no-config\.json: cannot read/ },
  { name: '--config not JSON', cli: train('--config', at('config-bad.json')), status: 2, stderr: /--config .*config-bad\.json: not valid JSON/ },
  { name: '--config an array', cli: train('--config', at('config-array.json')), status: 2, stderr: /--config .*config-array\.json: expected a JSON object of settings/ },
  { name: '--config a setting of the wrong type', cli: train('--config', at('config-type.json')), status: 2, stderr: /epochs: expected a number, got "many"/ },
  // ---- spaces
  { name: 'space: no such preset', cli: ['describe', '--space', 'no-such-space'], status: 2, stderr: /no preset space named 'no-such-space'/ },
  { name: 'space: empty file', cli: ['describe', '--space', at('space-empty.json')], status: 2, stderr: /invalid JSON in .*space-empty\.json at line 1, column 1/ },
  { name: 'space: a JSON array', cli: ['describe', '--space', at('space-array.json')], status: 2, stderr: /space: expected a JSON object \(in .*space-array\.json\)/ },
  { name: 'space: unknown op', cli: ['describe', '--space', at('space-op.json')], status: 2, stderr: /space\.ops\[1\]: op 'k9e9': kernel must be 3, 5 or 7/ },
  { name: 'space: width 0', cli: ['describe', '--space', at('space-width.json')], status: 2, stderr: /space\.stem\.width: expected an integer in \[1, 8192\], got 0/ },
  { name: 'space: no stages', cli: ['describe', '--space', at('space-stages.json')], status: 2, stderr: /space\.stages: expected a non-empty array/ },
  { name: 'space: one class', cli: ['describe', '--space', at('space-classes.json')], status: 2, stderr: /space\.classes: expected at least 2 classes, got 1/ },
  { name: 'space: unknown activation', cli: ['describe', '--space', at('space-act.json')], status: 2, stderr: /space\.activation: expected one of relu, relu6, hswish, got "gelu"/ },
  { name: 'space: unknown field', cli: ['describe', '--space', at('space-field.json')], status: 2, stderr: /space\.colour: unknown field/ },
  { name: 'space: 5 channels against 1-channel data', cli: ['train-supernet', ...tiny, '--space', at('space-channels.json'), '--out', OUT], status: 2, stderr: /--data fmnist-mini: train images are 28x28x1 but the space 'mini' takes 28x28x5/ },
  // ---- datasets
  { name: 'data: an archive', cli: withData(at('data.tar.gz')), status: 2, stderr: /data\.tar\.gz: not a directory; it looks like an archive: extract it/ },
  { name: 'data: neither IDX nor image folders', cli: withData(at('data-none')), status: 2, stderr: /data-none: not a dataset directory: found neither IDX files/ },
  { name: 'data: IDX directory without test files', cli: withData(at('idx-incomplete')), status: 2, stderr: /idx-incomplete: incomplete IDX directory: no t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte/ },
  { name: 'data: IDX bad magic', cli: withData(at('idx-magic')), status: 2, stderr: /train-images-idx3-ubyte: not an IDX file: magic bytes are/ },
  { name: 'data: IDX truncated', cli: withData(at('idx-truncated')), status: 2, stderr: /idx-truncated\/train-images-idx3-ubyte: truncated IDX file: dims \[20, 28, 28\] need 15696 bytes, file has 1000/ },
  { name: 'data: IDX images and labels disagree', cli: withData(at('idx-count')), status: 2, stderr: /image\/label count mismatch: .*train-images-idx3-ubyte has 20 images, .*train-labels-idx1-ubyte has 19 labels/ },
  { name: 'data: IDX 16x16 images for a 28x28 space', cli: withData(at('idx-size')), status: 2, stderr: /--data .*idx-size: train images are 16x16x1 but the space 'mini' takes 28x28x1/ },
  { name: 'data: image folder without test/ or val/', cli: withData(at('img-notest')), status: 2, stderr: /image-folder root has train\/ but neither test\/ nor val\// },
  { name: 'data: an empty class folder', cli: withData(at('img-empty')), status: 2, stderr: /img-empty\/train\/b: class folder has no images \(\.jpg \.jpeg \.png \.webp\)/ },
  { name: 'data: a corrupt image', cli: withData(at('img-corrupt')), status: 2, stderr: /img-corrupt\/train\/a\/bad\.png: cannot decode image/ },
  // ---- run directories (issue 10, 1 and 2) and checkpoints
  { name: 'a second run into a run directory (issue 10, 1)', cli: ['train-supernet', ...tiny, '--out', run], status: 2, stderr: /--out .*run already holds a run \(config\.json, log\.jsonl, checkpoints\/\): continue it with --resume/, spawn: true },
  { name: '`run` into a run directory (issue 10, 1)', cli: ['run', ...tiny, '--out', run], status: 2, stderr: /already holds a run/ },
  { name: '--resume with a changed --batch and --seed (issue 10, 2)', cli: ['train-supernet', '--out', run, '--resume', '--quiet', '--batch', '32', '--seed', '3'], status: 2, stderr: /--resume: the settings differ from the run in .*run: --seed: 0 in the run, 3 now; --batch: 16 in the run, 32 now\. .*--allow-change/ },
  { name: '--resume with a changed space (issue 10, 2)', cli: ['train-supernet', '--out', run, '--resume', '--quiet', '--space', at('space-hswish.json')], status: 2, stderr: /--space: .*mini\.json \(space hash [0-9a-f]{12}\) in the run, .*space-hswish\.json \(space hash [0-9a-f]{12}\) now/ },
  { name: '--resume and --force', cli: ['train-supernet', '--out', run, '--resume', '--force'], status: 2, stderr: /give --resume .* or --force .*, not both/ },
  { name: 'search on a run whose checkpoints are all broken', cli: ['search', '--out', broken, '--threads', '1', '--quiet'], status: 1, stderr: /no usable checkpoint in .*checkpoints:\n.*bad magic[^]*checksum mismatch|no usable checkpoint in .*checkpoints:\n.*checksum mismatch[^]*bad magic/ },
  { name: 'search where there is no run', cli: ['search', '--out', OUT, '--threads', '1'], status: 2, stderr: /no supernet checkpoint/ },
  // ---- arch keys (issue 10, 6: "6x-1.9-2abc-..." was parsed by parseInt into a valid arch)
  { name: 'retrain --arch 6x-1.9-2abc-0', cli: ['retrain', '--out', run, '--arch', '6x-1.9-2abc-0', '--quiet'], status: 2, stderr: /6x-1\.9-2abc-0: cannot read the arch file \(no such file\)/ },
  { name: 'export --arch 1-1-1-1-1 (one choice too many)', cli: ['export', '--out', run, '--arch', '1-1-1-1-1'], status: 2, stderr: /--arch 1-1-1-1-1: expected 4 choices \(one per searchable layer of the space 'mini'\), got 5/ },
  { name: 'retrain --arch 9-9-9-9 (choices out of range)', cli: ['retrain', '--out', run, '--arch', '9-9-9-9', '--quiet'], status: 2, stderr: /--arch 9-9-9-9: choice 0 is 9, expected an integer in \[0, 2\] \(ops 0=k3e3 1=k5e3 2=id\)/ },
  { name: 'parseArchKey("6x-1.9-2abc-0")', call: () => parseArchKey('6x-1.9-2abc-0'), error: RangeError, message: /arch key "6x-1\.9-2abc-0": expected choice indices joined by '-'/ },
  { name: 'parseArchKey("1--2")', call: () => parseArchKey('1--2'), error: RangeError, message: /arch key "1--2"/ },
  { name: 'parseArchKey("-1-2")', call: () => parseArchKey('-1-2'), error: RangeError, message: /arch key "-1-2"/ },
  // ---- library arguments
  { name: 'Supernet.create: threads -1', call: () => Supernet.create(miniSpace, { threads: -1 }), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /options\.threads: expected a number in \[0, 1024\], got -1/ },
  { name: 'Supernet.create: backend tpu', call: () => Supernet.create(miniSpace, { backend: 'tpu' as never }), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /options\.backend: expected 'cpu', 'cuda' or 'reference', got "tpu"/ },
  { name: 'Supernet.create: a space with one class', call: () => Supernet.create({ ...miniSpace, classes: 1 }), error: SpaceError, message: /space\.classes: expected at least 2 classes, got 1/ },
  { name: 'trainStep: labels out of range', call: () => withNet((n) => n.trainStep([0, 0, 0, 0], new Uint8Array(4 * 784), Int32Array.of(0, 1, 2, 10), { lr: 0.1 })), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /labels\[3\]: expected a class index in \[0, 9\], got 10/ },
  { name: 'trainStep: a fractional choice', call: () => withNet((n) => n.trainStep([0, 0, 0, 0.5], new Uint8Array(784), new Int32Array(1), { lr: 0.1 })), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /arch\[3\]: expected an integer choice in \[0, 2\], got 0\.5/ },
  { name: 'trainStep: a Float64Array of pixels', call: () => withNet((n) => n.trainStep([0, 0, 0, 0], new Float64Array(784) as never, new Int32Array(1), { lr: 0.1 })), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /images: expected a Uint8Array .* got a Float64Array/ },
  { name: 'evaluate: no paths', call: () => withNet((n) => n.evaluate([], new Uint8Array(784), new Int32Array(1))), error: Error, code: 'GNAS_INVALID_ARGUMENT', message: /archs: expected a non-empty array of archs/ },
  { name: 'load: a text file as a checkpoint', call: () => withNet((n) => n.load(at('text.ckpt'))), error: Error, code: 'GNAS_NATIVE', message: /text\.ckpt is not a greedynas checkpoint \(bad magic\)/ },
  { name: 'load: a truncated checkpoint', call: () => withNet((n) => n.load(at('truncated.ckpt'))), error: Error, code: 'GNAS_NATIVE', message: /truncated\.ckpt is corrupt or truncated \(checksum mismatch\)/ },
  { name: 'load: a checkpoint of another space', call: () => withNet((n) => n.load(checkpointOf(run)), { ...miniSpace, ops: ['k3e3', 'k5e3', 'k7e3', 'id'] }), error: Error, code: 'GNAS_NATIVE', message: /holds \d+ tensors, this supernet has \d+: it was written for a different space/ },
  { name: 'save: into a missing folder', call: () => withNet((n) => n.save(at('no-folder', 'x.ckpt'))), error: Error, code: 'GNAS_NATIVE', message: /cannot write checkpoint .*no-folder\/x\.ckpt\.tmp-\d+: No such file or directory/ },
  { name: 'BatchLoader: batch size 0', call: () => new BatchLoader(createDataset({ images: new Uint8Array(784), labels: [0], height: 28, width: 28, channels: 1 }), { batchSize: 0 }), error: DataError, code: 'BAD_ARGUMENT', message: /batchSize: expected a positive integer, got 0/ },
  { name: 'createDataset: pixels for 4 images, 3 labels', call: () => createDataset({ images: new Uint8Array(4 * 784), labels: [0, 1, 2], height: 28, width: 28, channels: 1 }), error: DataError, code: 'BAD_ARGUMENT', message: /dataset\.images: expected 2352 bytes \(3 x 28 x 28 x 1\), got 3136/ },
  { name: 'openDataset("")', call: () => openDataset(''), error: DataError, code: 'BAD_ARGUMENT', message: /dataset spec: expected a path or a name/ },
  { name: 'CandidatePool: capacity 0', call: () => new CandidatePool({ capacity: 0 }), error: RangeError, message: /pool capacity: expected a positive integer, got 0/ },
  { name: 'UniformSampler: a FLOPs budget no path meets', call: () => uniformUnder(1), error: ConstraintError, code: 'INFEASIBLE', message: /no path meets the FLOPs budget <= 1: paths of this space have .* FLOPs/ },
  { name: 'resolveSpace({})', call: () => resolveSpace({} as SpaceFile), error: SpaceError, message: /space\.input: expected \{height, width, channels\}/ },
  { name: 'loadSpace: no such preset', call: () => loadSpace('no-such-space'), error: SpaceLoadError, code: 'ENOENT', message: /no preset space named 'no-such-space'/ },
  { name: 'kendallTau: series of other lengths', call: () => kendallTau([1, 2, 3], [1, 2]), error: RangeError, message: /differ in length \(3 vs 2\)/ },
  // ---- what must not be refused
  { name: 'an image folder whose class folders and images are symbolic links', ok: symlinkedFolderLoads },
  { name: "the run's own config.json as --config", ok: async () => assert.deepEqual(await cliHere(['describe', '--config', join(run, 'config.json')]), { status: 0, stderr: '' }) },
  { name: 'a bad option, spawned: exit status 2 end to end', cli: train('--epochs', 'many'), status: 2, stderr: /--epochs: expected a number, got "many"/, spawn: true },
];

/** A fresh supernet of the mini space (or `space`), disposed after `f`. */
async function withNet<T>(f: (n: Supernet) => Promise<T>, space: SpaceFile = miniSpace): Promise<T> {
  const net = await Supernet.create(space, { threads: 1, seed: 0 });
  try {
    return await f(net);
  } finally {
    await net.dispose();
  }
}

function uniformUnder(flops: number): UniformSampler {
  const space = resolveSpace(miniSpace);
  return new UniformSampler(archSpaceOf(space), { seed: 0, costs: costTable(space), constraints: { flops } });
}

function checkpointOf(dir: string): string {
  const files = readdirSync(join(dir, 'checkpoints')).filter((f) => f.endsWith('.ckpt')).sort();
  return join(dir, 'checkpoints', files[files.length - 1]!);
}

/** 28x28 grey PNGs of two classes, reached through symbolic links (issue 10, 6: reported "class folder has no images"). */
async function symlinkedFolderLoads(): Promise<void> {
  const r = await openDataset({ path: at('img-links'), size: { height: 28, width: 28 }, channels: 1 });
  assert.deepEqual([r.train.labels.length, r.test.labels.length, r.train.classes], [4, 2, 2]);
}

async function png(file: string, value: number): Promise<void> {
  await sharp(Buffer.alloc(28 * 28, value), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
}

/** An IDX dataset directory; `edit` breaks one of its files. */
function idxDir(name: string, opts: { n?: number; labels?: number; size?: number; test?: boolean; edit?: (file: string) => void } = {}): void {
  const dir = at(name);
  mkdirSync(dir);
  const n = opts.n ?? 20;
  const s = opts.size ?? 28;
  const write = (images: string, labels: string, count: number, labelCount: number) => {
    writeFileSync(join(dir, images), encodeIdx([count, s, s], new Uint8Array(count * s * s).fill(7)));
    writeFileSync(join(dir, labels), encodeIdx([labelCount], Uint8Array.from({ length: labelCount }, (_, i) => i % 10)));
  };
  write('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', n, opts.labels ?? n);
  if (opts.test !== false) write('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 10, 10);
  opts.edit?.(join(dir, 'train-images-idx3-ubyte'));
}

/** An image-folder root: `classes` maps each class of train/ to its number of images. */
async function imageDir(name: string, classes: Record<string, number>, opts: { test?: boolean; corrupt?: boolean } = {}): Promise<string> {
  const dir = at(name);
  for (const split of opts.test === false ? ['train'] : ['train', 'test']) {
    for (const [c, count] of Object.entries(classes)) {
      mkdirSync(join(dir, split, c), { recursive: true });
      for (let i = 0; i < (split === 'test' ? Math.min(count, 1) : count); i++) await png(join(dir, split, c, `${i}.png`), 40 * i);
    }
  }
  if (opts.corrupt) writeFileSync(join(dir, 'train', Object.keys(classes)[0]!, 'bad.png'), 'not a png');
  return dir;
}

async function makeFixtures(): Promise<void> {
  const r = await cliHere(['train-supernet', ...tiny, '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(run, 'pool.json')), 'the run has no pool');
  cpSync(run, broken, { recursive: true });
  const ckpts = readdirSync(join(broken, 'checkpoints')).sort();
  assert.equal(ckpts.length, 2);
  writeFileSync(join(broken, 'checkpoints', ckpts[0]!), 'garbage');
  truncateSync(join(broken, 'checkpoints', ckpts[1]!), 1000);
  copyFileSync(checkpointOf(run), at('truncated.ckpt'));
  truncateSync(at('truncated.ckpt'), 5000);
  writeFileSync(at('text.ckpt'), 'hello');

  writeFileSync(at('config-bad.json'), '{"epochs": 2,');
  writeFileSync(at('config-array.json'), '[]');
  writeFileSync(at('config-type.json'), '{"epochs": "many"}');
  const space = (name: string, body: unknown) => writeFileSync(at(`space-${name}.json`), typeof body === 'string' ? body : JSON.stringify(body));
  space('empty', '');
  space('array', [1, 2]);
  space('op', { ...miniSpace, ops: ['k3e3', 'k9e9'] });
  space('width', { ...miniSpace, stem: { width: 0, stride: 2 } });
  space('stages', { ...miniSpace, stages: [] });
  space('classes', { ...miniSpace, classes: 1 });
  space('act', { ...miniSpace, activation: 'gelu' });
  space('field', { ...miniSpace, colour: 'red' });
  space('channels', { ...miniSpace, input: { height: 28, width: 28, channels: 5 } });
  space('hswish', { ...miniSpace, activation: 'hswish' }); // same tensor shapes, another network

  writeFileSync(at('data.tar.gz'), 'not really');
  mkdirSync(at('data-none', 'stuff'), { recursive: true });
  idxDir('idx-incomplete', { test: false });
  idxDir('idx-magic', { edit: (f) => writeFileSync(f, 'hello world, not IDX') });
  idxDir('idx-truncated', { edit: (f) => truncateSync(f, 1000) });
  idxDir('idx-count', { labels: 19 });
  idxDir('idx-size', { size: 16 });
  await imageDir('img-notest', { a: 2, b: 2 }, { test: false });
  await imageDir('img-empty', { a: 2, b: 0 });
  await imageDir('img-corrupt', { a: 2, b: 2 }, { corrupt: true });
  // symbolic links: class folder b is a link, and the images of class a are links
  const real = await imageDir('img-real', { a: 2, b: 2 });
  for (const split of ['train', 'test']) {
    mkdirSync(at('img-links', split, 'a'), { recursive: true });
    for (const f of readdirSync(join(real, split, 'a'))) symlinkSync(join(real, split, 'a', f), at('img-links', split, 'a', f));
    symlinkSync(join(real, split, 'b'), at('img-links', split, 'b'));
  }
}

describe('bad-input corpus: a specific error for each, and no run directory changed', () => {
  let watched: Record<string, Record<string, string>>;
  before(async () => {
    await makeFixtures();
    watched = { [run]: snapshot(run), [broken]: snapshot(broken) };
  });

  for (const row of rows) {
    test(row.name, async () => {
      if ('cli' in row) {
        const out = newOut();
        const args = row.cli.map((a) => (a === OUT ? out : a));
        const r = row.spawn ? cliSpawn(args) : await cliHere(args);
        assert.equal(r.status, row.status, `exit status ${r.status}:\n${r.stderr}`);
        assert.match(r.stderr, row.stderr);
        assert.equal(existsSync(out), false, `the refused command created ${out}: ${existsSync(out) ? readdirSync(out).join(', ') : ''}`);
      } else if ('call' in row) {
        await assert.rejects(
          async () => row.call(),
          (e: Error & { code?: string }) => {
            assert.ok(e instanceof row.error, `${e.constructor.name}: ${e.message}`);
            if (row.code !== undefined) assert.equal(e.code, row.code, e.message);
            assert.match(e.message, row.message);
            return true;
          },
        );
      } else {
        await row.ok();
      }
      for (const [dir, before] of Object.entries(watched)) assert.deepEqual(snapshot(dir), before, `${dir} changed`);
    });
  }

  test('the corpus is broad: 40 to 80 rows', () => {
    assert.ok(rows.length >= 40 && rows.length <= 80, `${rows.length} rows`);
  });
});
