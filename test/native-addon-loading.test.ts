// Where the addon comes from (src/native/addon.ts, scripts/native-addon.mjs): the prebuild's file
// name is one node-gyp-build resolves, a source build in build/Release/ wins over it, a package
// with neither says how to build one, and the install script does nothing in the checkout or when
// an addon loads, and names the missing tools when it would have to build without them.
// scripts/pack-check.sh tests the packed package end to end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';

import { packageRoot } from '../src/util/package-root.js';

const root = packageRoot();
const script = join(root, 'scripts', 'native-addon.mjs');
const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as { path(dir: string): string };

/** A folder that looks like an installed greedynas: its package.json, the install script, node_modules. */
function fakePackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gnas-addon-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'greedynas', version: '0.0.0', type: 'module' }));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(script, join(dir, 'scripts', 'native-addon.mjs'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('native addon loading', () => {
  test("the prebuild's name is resolved by node-gyp-build; a source build in build/Release wins", async () => {
    const { prebuildTarget } = (await import(pathToFileURL(script).href)) as { prebuildTarget(dir: string): { dir: string; file: string } };
    const dir = fakePackage();
    const target = prebuildTarget(dir);
    assert.match(target.file, /^greedynas\.napi(\.glibc|\.musl)?\.node$/);
    mkdirSync(target.dir, { recursive: true });
    writeFileSync(join(target.dir, target.file), '');
    assert.equal(nodeGypBuild.path(dir), join(target.dir, target.file));
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Release', 'greedynas.node'), '');
    assert.equal(nodeGypBuild.path(dir), join(dir, 'build', 'Release', 'greedynas.node'));
  });

  test('without a build or a prebuild the engine says how to build the addon', () => {
    const empty = mkdtempSync(join(tmpdir(), 'gnas-no-addon-'));
    const engine = pathToFileURL(join(root, '.test-build', 'src', 'native', 'engine.js')).href;
    // GREEDYNAS_PREBUILD points node-gyp-build at another folder than the package root (an empty one).
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `(await import(${JSON.stringify(engine)})).probeBackends();`], {
      encoding: 'utf8',
      env: { ...process.env, GREEDYNAS_PREBUILD: empty },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /the greedynas native addon is missing: no build in .*build\/Release and no prebuilt binary for \S+ in .*prebuilds/);
    assert.match(r.stderr, /`npm rebuild greedynas`.*`npm run build:native`.*CMake \(3\.18 or newer\) and a C\+\+17 compiler/);
  });

  test('the install script: nothing to do in the checkout or where an addon loads; names missing tools', () => {
    const install = (cwd: string, env: Record<string, string>) =>
      spawnSync(process.execPath, [join(cwd, 'scripts', 'native-addon.mjs'), 'install'], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    // the checkout: `prepare` builds, the install script returns at once
    let r = install(root, { npm_config_local_prefix: root });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    // an installed package whose addon loads (here: the checkout's own build, via GREEDYNAS_PREBUILD)
    const dir = fakePackage();
    r = install(dir, { npm_config_local_prefix: tmpdir(), GREEDYNAS_PREBUILD: root });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    // no addon, and a PATH without cmake or a compiler: exit 1 naming both and the fix
    const bin = mkdtempSync(join(tmpdir(), 'gnas-bare-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    r = install(dir, { npm_config_local_prefix: tmpdir(), PATH: bin, CXX: '' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no prebuilt addon for \S+ loads here \(No native build was found.*\), and it cannot be built from source: cmake \(3\.18 or newer\) and a C\+\+17 compiler \(g\+\+ or clang\+\+\) not found on PATH/);
    assert.match(r.stderr, /apt-get install -y g\+\+ cmake.*`npm rebuild greedynas`/);
  });
});
