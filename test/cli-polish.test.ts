// The CLI as people meet it (issue 11): --version; did-you-mean for mistyped commands and options
// (src/cli/suggest.ts); both forms of boolean options in --help; usage lines under the name it was
// invoked by (`greedynas` through the bin, `node dist/run.js` otherwise); options a command would
// ignore are refused (profile takes no training options); a refused command writes nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { invokedName } from '../src/cli/help.js';
import { didYouMean, levenshtein, suggestions } from '../src/cli/suggest.js';
import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const runJs = join(root, 'dist', 'run.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [runJs, ...args], { encoding: 'utf8', timeout: 120_000 });
const tmp = () => mkdtempSync(join(tmpdir(), 'gnas-cli-polish-'));

describe('did-you-mean', () => {
  test('edit distance, and suggestions within 2 edits or starting with the word', () => {
    assert.equal(levenshtein('kitten', 'sitting'), 3);
    assert.equal(levenshtein('serach', 'search'), 2);
    assert.equal(levenshtein('', 'abc'), 3);
    assert.deepEqual(suggestions('epoch', ['epochs', 'retrain-epochs', 'batch']), ['epochs']);
    assert.deepEqual(suggestions('train', ['train-supernet', 'retrain', 'truth']), ['retrain', 'train-supernet']);
    assert.deepEqual(suggestions('frobnicate', ['epochs', 'batch']), []);
    assert.equal(didYouMean('serach', ['search', 'rank'], (n) => `'${n}'`), " Did you mean 'search'?");
    assert.equal(didYouMean('xyz', ['search']), '');
  });

  test('an unknown command or option gets the closest names; exit 2', () => {
    let r = cli('serach');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^unknown command 'serach'\. Did you mean 'search'\?/);
    r = cli('trian-supernet');
    assert.match(r.stderr, /Did you mean 'train-supernet'\?/);
    r = cli('train-supernet', '--epoch', '3');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^train-supernet: Unknown option '--epoch'\. Did you mean --epochs\?/);
    r = cli('train-supernet', '--no-fliip');
    assert.match(r.stderr, /Unknown option '--no-fliip'\. Did you mean --no-flip\?/);
    r = cli('retrain', '--archh', '0-0-0');
    assert.match(r.stderr, /Unknown option '--archh'\. Did you mean --arch or --archs\?|Did you mean --arch\?/);
    r = cli('train-supernet', '--frobnicate');
    assert.match(r.stderr, /Unknown option '--frobnicate'\.\n/);
    r = cli('--verison');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option '--verison'\. Did you mean --version\?/);
  });
});

describe('--version, --help and the usage name', () => {
  test('--version prints the package name and version', () => {
    const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
    const r = cli('--version');
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`^${pj.name} ${pj.version.replace(/\./g, '\\.')}( \\(git [0-9a-f]{12}(, uncommitted changes)?\\))?, node ${process.version}\\n$`));
  });

  test('boolean options are listed in both forms; only accepted flags are listed', () => {
    const r = cli('train-supernet', '--help');
    assert.equal(r.status, 0);
    for (const flag of ['flip', 'nesterov', 'use-pool', 'stopping', 'redraw-scoring-batch']) assert.match(r.stdout, new RegExp(`\\n  --${flag}, --no-${flag}\\b`), `--no-${flag} missing`);
    assert.doesNotMatch(r.stdout, /--no-epochs/);
    const p = cli('profile', '--help');
    assert.match(p.stdout, /^usage: node dist\/run\.js profile MODEL\.onnx \[options\]/);
    assert.doesNotMatch(p.stdout, /--config|--quiet|--epochs/);
    assert.match(cli('retrain', '--help').stdout, /\n  --arch +the path: a key \(0-3-6-1-\.\.\.\) or an arch\.json file/);
  });

  test('usage names the bin when invoked through it, `node dist/run.js` otherwise', () => {
    assert.equal(invokedName('/x/node_modules/.bin/greedynas'), 'greedynas');
    assert.equal(invokedName('/x/greedynas/dist/run.js'), 'node dist/run.js');
    assert.equal(invokedName(undefined), 'node dist/run.js');
    const bin = join(tmp(), 'greedynas');
    symlinkSync(runJs, bin);
    const r = spawnSync(process.execPath, [bin, 'describe', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: greedynas describe \[options\]/);
    const top = spawnSync(process.execPath, [bin], { encoding: 'utf8' });
    assert.match(top.stdout, /^usage: greedynas <command> \[options\]/);
    assert.match(top.stdout, /Quick start: greedynas run/);
    assert.match(cli().stdout, /^usage: node dist\/run\.js <command>/);
  });
});

describe('options a command ignores are refused, before anything is written', () => {
  test('profile takes no training options, no --config, no --quiet', () => {
    const model = join(tmp(), 'm.onnx');
    writeFileSync(model, 'not a model');
    for (const args of [['--epochs', '3'], ['--sampler', 'greedy'], ['--resume'], ['--out', 'x'], ['--quiet'], ['--config', 'c.json']]) {
      const r = cli('profile', model, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`profile: ${args[0]} does not apply to 'profile'`), r.stderr);
    }
    const r = cli('profile', model, '--epochs', '3');
    assert.match(r.stderr, /\(it is an option of train-supernet, run\); see `node dist\/run\.js profile --help`/);
    const two = cli('profile', model, model);
    assert.equal(two.status, 2);
    assert.match(two.stderr, /profile takes one model file, got 2/);
    assert.match(cli('profile', join(tmp(), 'none.onnx')).stderr, /none\.onnx: no such model file/);
  });

  test('describe and backends refuse what they would ignore', () => {
    assert.match(cli('describe', '--epochs', '3').stderr, /--epochs does not apply to 'describe'/);
    assert.match(cli('describe', '--quiet').stderr, /--quiet does not apply to 'describe'/);
    assert.match(cli('backends', '--space', 'fmnist').stderr, /--space does not apply to 'backends'/);
  });

  test('a bad --arch for retrain or export leaves no run directory', () => {
    const d = tmp();
    for (const [cmd, arch, re] of [
      ['retrain', '9-9-9', /retrain: --arch 9-9-9: expected 6 choices \(one per searchable layer of the space 'fmnist-small'\), got 3/],
      ['retrain', join(d, 'missing.json'), /missing\.json: cannot read the arch file \(no such file\)/],
      ['export', '0-0-0-0-0-7', /export: --arch 0-0-0-0-0-7: choice 5 is 7, expected an integer in \[0, 3\]/],
    ] as const) {
      const out = join(d, `${cmd}-out`);
      const r = cli(cmd, '--out', out, '--arch', arch, '--threads', '1');
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(existsSync(out), false, `${cmd} --arch ${arch} created ${out}`);
    }
    // No --arch and no search.json: refused before the folder is made.
    const out = join(d, 'no-search');
    const r = cli('retrain', '--out', out, '--threads', '1');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no --arch given and no .*search\.json: run `search` first, or pass --arch KEY or --arch arch\.json/);
    assert.equal(existsSync(out), false);
  });

  test('search, export and train-supernet refused for a missing supernet or bad data leave no folder', () => {
    const d = tmp();
    for (const args of [['search'], ['export', '--arch', '0-0-0-0-0-0'], ['train-supernet', '--data', join(d, 'no-data')]]) {
      const out = join(d, `${args[0]}-out`);
      const r = cli(...args, '--out', out, '--threads', '1');
      assert.equal(r.status, 2, r.stderr);
      assert.equal(existsSync(out), false, `${args.join(' ')} created ${out}`);
    }
    assert.match(cli('search', '--out', join(d, 'x'), '--threads', '1').stderr, /no supernet checkpoint of this run in .*checkpoints: run `train-supernet --out /);
  });
});
