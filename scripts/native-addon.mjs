#!/usr/bin/env node
// The native addon outside the developer build (`npm run build:native` writes build/Release/):
//
//   node scripts/native-addon.mjs prebuild [cmake-js options]   (npm run build:prebuild)
//     builds only the addon, in its own folder build-prebuild/ (the developer build and its test
//     executables stay as they are), and copies it to prebuilds/<platform>-<arch>/ under the
//     name node-gyp-build looks for (greedynas.napi.glibc.node on Linux: N-API, so any Node
//     version with N-API 8; glibc, so musl systems build from source instead). The package ships
//     that folder. CPU backend with run-time ISA dispatch, plus the CUDA backend when nvcc is
//     found (CMakeLists.txt); `--CDGNAS_CUDA=OFF` leaves CUDA out.
//
//   node scripts/native-addon.mjs install   (the package's install script)
//     nothing to do when an addon that loads here is present (a prebuild, or an earlier source
//     build); otherwise builds build/Release/greedynas.node from the shipped sources with cmake-js,
//     which needs CMake and a C++17 compiler; when they are missing it says which and how to get
//     them. In the project's own checkout it does nothing: `prepare` builds everything there.
//
// Written in plain JavaScript because it runs at install time, before (or without) TypeScript.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (line) => console.error(`greedynas: ${line}`);

/** The platform folder and file name node-gyp-build resolves (its parseTuple/parseTags); exported for a test. */
export function prebuildTarget(packageDir = root) {
  const tags = ['greedynas', 'napi'];
  if (process.platform === 'linux') tags.push(process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl');
  return { dir: join(packageDir, 'prebuilds', `${process.platform}-${process.arch}`), file: `${tags.join('.')}.node` };
}

/** The addon file node-gyp-build would load, if it also loads in this process; else the reason. */
function loadable() {
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch (e) {
    return { error: String(e.message).split('\n')[0] };
  }
  try {
    const addon = require(file);
    return { file, backends: addon.backends };
  } catch (e) {
    return { error: `${file} does not load here: ${String(e.message).split('\n')[0]}` };
  }
}

function cmakeJs(args) {
  const pkgFile = require.resolve('cmake-js/package.json');
  const bin = require(pkgFile).bin;
  const script = join(dirname(pkgFile), typeof bin === 'string' ? bin : bin['cmake-js']);
  const r = spawnSync(process.execPath, [script, ...args], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}

function onPath(names) {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return names.find((n) => dirs.some((d) => existsSync(join(d, n))));
}

/** What a source build lacks on this machine (empty when CMake and a C++ compiler are found). */
function missingTools() {
  const missing = [];
  if (!onPath(['cmake'])) missing.push('cmake (3.18 or newer)');
  const cxx = process.env.CXX ? [process.env.CXX] : [];
  if (!(cxx.length > 0 ? existsSync(cxx[0]) || onPath(cxx) : onPath(['c++', 'g++', 'clang++']))) missing.push('a C++17 compiler (g++ or clang++)');
  return missing;
}

function prebuild(extra) {
  const status = cmakeJs(['compile', '--out', 'build-prebuild', '--target', 'greedynas', ...extra]);
  if (status !== 0) process.exit(status);
  const built = join(root, 'build-prebuild', 'Release', 'greedynas.node');
  const { dir, file } = prebuildTarget();
  // One binary per platform folder: a file left from another naming would compete with it.
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.endsWith('.node')) rmSync(join(dir, f));
  mkdirSync(dir, { recursive: true });
  const target = join(dir, file);
  copyFileSync(built, target);
  const addon = require(target);
  say(`prebuild ${target} (${(statSync(target).size / 1e6).toFixed(1)} MB, backends: ${addon.backends.join(', ')})`);
}

function install() {
  const prefix = process.env.npm_config_local_prefix;
  if (prefix && existsSync(prefix) && realpathSync(prefix) === realpathSync(root)) return; // the checkout: `prepare` builds
  const found = loadable();
  if (found.file) return;
  const missing = missingTools();
  const what = `no prebuilt addon for ${process.platform}-${process.arch} loads here (${found.error})`;
  if (missing.length > 0) {
    say(`${what}, and it cannot be built from source: ${missing.join(' and ')} not found on PATH.`);
    say('install them (Debian/Ubuntu: `apt-get install -y g++ cmake`), then run `npm rebuild greedynas`');
    process.exit(1);
  }
  say(`${what}: building it from source with cmake-js (a few minutes)`);
  const status = cmakeJs(['compile', '--out', 'build', '--target', 'greedynas']);
  const after = loadable();
  if (status !== 0 || !after.file) {
    say(`the source build failed${after.error ? ` (${after.error})` : ''}; the output above says why. Retry with \`npm rebuild greedynas\``);
    process.exit(status || 1);
  }
  say(`built ${after.file} (backends: ${after.backends.join(', ')})`);
}

const [command, ...rest] = process.argv.slice(2);
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (command === 'prebuild') prebuild(rest);
  else if (command === 'install') install();
  else {
    console.error('usage: node scripts/native-addon.mjs prebuild [cmake-js options] | install');
    process.exit(2);
  }
}
