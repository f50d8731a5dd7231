#!/usr/bin/env node
// The structure check (issue 12), run by `npm test` (test/structure.test.ts) and on its own:
//   node scripts/check-structure.mjs        prints each violation, exit status 1 when any
//
// It fails on:
//   - a source file over MAX_LINES lines (*.ts *.mjs *.cpp *.h *.cu *.cuh *.py *.sh, and scripts
//     without an extension that start with #!, under src/ native/ scripts/ test/ bench/ .ci/
//     tools/): a file that long holds several topics, split it by topic;
//   - an include in native/ or an import in src/ that runs from a lower floor to a higher one
//     (the tables below, also drawn in docs/architecture.md), or between two backends, or a file
//     on no floor (a new folder must be placed in the table);
//   - a cycle between the folders of one floor (a cycle across floors always has an upward edge,
//     which is reported as such).
// Known violations that wait for a larger change are listed in KNOWN_VIOLATIONS with the reason;
// they are reported but do not fail, and an entry that no longer occurs fails (remove it), so the
// list can only shrink.
// No dependencies: Node's standard library and git (for the list of files; without git the
// folders are walked).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MAX_LINES = 800;
export const CHECKED_DIRS = ['src', 'native', 'scripts', 'test', 'bench', '.ci', 'tools'];
const SOURCE_EXTENSIONS = /\.(ts|mjs|cpp|h|cu|cuh|py|sh)$/;

// A floor holds units (folders, or single files); a unit is named by a path prefix and a file
// belongs to the unit with the longest matching prefix. A file may include or import files of its
// own floor and of lower floors. On a floor marked `peers`, the units may not include one another.
export const NATIVE_FLOORS = [
  { floor: 0, label: 'core', name: 'the Backend interface and its composed defaults', units: ['native/core/'] },
  { floor: 0, label: 'image', name: 'JPEG decoding and resizing for the data loaders (no Node, no backends)', units: ['native/image/'] },
  {
    floor: 1,
    label: 'backends', name: 'the backends (peers: none includes another)',
    units: ['native/backends/reference/', 'native/backends/cpu/', 'native/backends/cuda/'],
    peers: true,
  },
  { floor: 2, label: 'registry', name: 'the backend registry: the only code that names every backend', units: ['native/backends/'] },
  { floor: 3, label: 'supernet', name: 'the weight-sharing supernet on one device (a replica)', units: ['native/supernet/'] },
  {
    floor: 4,
    label: 'parallel', name: 'the public supernet over 1..R replicas, data parallelism over devices',
    units: ['native/parallel/'],
  },
  { floor: 5, label: 'binding', name: 'N-API, the only code that includes napi.h', units: ['native/binding/'] },
  {
    floor: 6,
    label: 'tests', name: 'tests, benchmarks, tools (may include anything)',
    units: ['native/tests/', 'native/bench/', 'tools/cuda-emu/'],
  },
];

export const SRC_FLOORS = [
  { floor: 0, label: 'util', name: 'utilities', units: ['src/util/'] },
  { floor: 1, label: 'space', name: 'the vocabulary: space files, resolution, archs, costs', units: ['src/space/'] },
  { floor: 2, label: 'engine', name: 'the typed addon and its Promise API', units: ['src/native/'] },
  {
    floor: 3,
    label: 'domain', name: 'analysis, sampling, search, data, export, profile, report, training machinery',
    units: [
      'src/analysis/',
      'src/sampling/',
      'src/search/',
      'src/data/',
      'src/export/',
      'src/profile/',
      'src/report/',
      'src/train/',
    ],
  },
  { floor: 4, label: 'pipeline', name: 'the stages of a run and its configuration', units: ['src/pipeline/'] },
  { floor: 5, label: 'API', name: 'the package entry', units: ['src/index.ts'] },
  { floor: 6, label: 'cli', name: 'CLI (parsing, help, printing), entry point, tools', units: ['src/cli/', 'src/run.ts', 'src/bench/'] },
];

// Violations that need a larger change than a move, each with what resolves it. Keyed by the
// message the check prints.
export const KNOWN_VIOLATIONS = [];

/** The floor table's entry for a path: { floor, label, unit, peers } or null. */
export function floorOf(path, floors) {
  let best = null;
  for (const f of floors)
    for (const unit of f.units)
      if ((path === unit || path.startsWith(unit)) && (!best || unit.length > best.unit.length))
        best = { floor: f.floor, label: f.label, unit, peers: !!f.peers };
  return best;
}

export function lineCount(text) {
  if (text.length === 0) return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

export function isCheckedSource(path, text) {
  if (!CHECKED_DIRS.some((d) => path.startsWith(d + '/'))) return false;
  if (SOURCE_EXTENSIONS.test(path)) return true;
  return !posix.basename(path).includes('.') && text.startsWith('#!');
}

// Quoted includes resolve against the including file's folder, then native/ (the build's include
// root), then the CUDA emulator's folder (its include path in the GNAS_CUDA_EMU build), so that a
// backend including an emulator header shows as an upward include. Angle includes are system or
// library headers; quoted ones found nowhere (napi.h) are outside the tree.
const NATIVE_INCLUDE_ROOTS = ['native', 'tools/cuda-emu'];
function resolveInclude(from, spec, files) {
  for (const base of [posix.dirname(from), ...NATIVE_INCLUDE_ROOTS]) {
    const p = posix.normalize(posix.join(base, spec));
    if (files.has(p)) return p;
  }
  return null;
}

export function nativeEdges(path, text, files) {
  const out = [];
  for (const m of text.matchAll(/^[ \t]*#[ \t]*include[ \t]*"([^"]+)"/gm)) {
    const target = resolveInclude(path, m[1], files);
    if (target) out.push({ spec: m[1], target });
  }
  return out;
}

// Relative specifiers of static imports and re-exports (`import type` too: a type is a
// dependency on the module that defines it), side-effect imports and dynamic import('...').
const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  /^\s*import\s*['"]([^'"]+)['"]/gm,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
];
export function srcEdges(path, text) {
  const out = [];
  for (const re of IMPORT_PATTERNS)
    for (const m of text.matchAll(re)) {
      if (!m[1].startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(path), m[1])).replace(/\.js$/, '.ts');
      out.push({ spec: m[1], target });
    }
  return out;
}

/** Cycles among the units of one floor, from same-floor edges: each as "a -> b -> a". */
function sameFloorCycles(edges) {
  const graph = new Map();
  for (const [a, b] of edges) {
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a).add(b);
  }
  const cycles = [];
  const state = new Map(); // 1 on the stack, 2 done
  const stack = [];
  const visit = (u) => {
    state.set(u, 1);
    stack.push(u);
    for (const v of graph.get(u) ?? []) {
      if (state.get(v) === 1) cycles.push([...stack.slice(stack.indexOf(v)), v].join(' -> '));
      else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const u of [...graph.keys()].sort()) if (!state.has(u)) visit(u);
  return cycles;
}

function checkTree(files, { prefixes, floors, edgesOf, what }) {
  const violations = [];
  const sameFloor = [];
  for (const [path, text] of files) {
    if (!prefixes.some((p) => path.startsWith(p)) || !isCheckedSource(path, text)) continue;
    const from = floorOf(path, floors);
    if (!from) {
      const tree = prefixes.find((p) => path.startsWith(p));
      violations.push(`${path} is on no floor of ${tree}: place its folder in the table of scripts/check-structure.mjs`);
      continue;
    }
    for (const { spec, target } of edgesOf(path, text)) {
      const to = floorOf(target, floors);
      if (!to || to.unit === from.unit) continue;
      if (to.floor > from.floor || (to.floor === from.floor && from.peers))
        violations.push(`${path} (${from.label}) ${what} ${spec} (${to.label})`);
      else if (to.floor === from.floor) sameFloor.push([from.unit, to.unit]);
    }
  }
  for (const c of sameFloorCycles(sameFloor)) violations.push(`cycle between the folders of one floor: ${c}`);
  return violations;
}

/**
 * Every structure violation of a tree given as Map(path relative to the repository, with '/' ->
 * text). Returns { failures, known }: known = violations listed in `known` (reported, not
 * failing); failures = the others, plus entries of `known` that no longer occur.
 */
export function checkFiles(files, known = KNOWN_VIOLATIONS) {
  const all = [];
  for (const [path, text] of files)
    if (isCheckedSource(path, text) && lineCount(text) > MAX_LINES)
      all.push(`${path} has ${lineCount(text)} lines (at most ${MAX_LINES}): split it by topic`);
  const nativeEdgesOf = (p, t) => nativeEdges(p, t, files);
  all.push(...checkTree(files, { prefixes: ['native/', 'tools/'], floors: NATIVE_FLOORS, edgesOf: nativeEdgesOf, what: 'includes' }));
  all.push(...checkTree(files, { prefixes: ['src/'], floors: SRC_FLOORS, edgesOf: srcEdges, what: 'imports' }));
  const knownMessages = new Set(known.map((k) => k.message));
  const failures = all.filter((v) => !knownMessages.has(v));
  const found = new Set(all);
  for (const k of known)
    if (!found.has(k.message))
      failures.push(`known violation no longer occurs, remove it from KNOWN_VIOLATIONS: ${k.message}`);
  return { failures, known: all.filter((v) => knownMessages.has(v)) };
}

function listFiles(root) {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...CHECKED_DIRS], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\0').filter(Boolean);
  } catch {
    const found = [];
    const walk = (dir) => {
      for (const name of readdirSync(join(root, dir))) {
        const rel = posix.join(dir, name);
        if (name === 'node_modules' || name.startsWith('build')) continue;
        if (statSync(join(root, rel)).isDirectory()) walk(rel);
        else found.push(rel);
      }
    };
    for (const d of CHECKED_DIRS) {
      try {
        walk(d);
      } catch {
        // a folder this tree does not have
      }
    }
    return found;
  }
}

/** The check on a checkout: reads every file under CHECKED_DIRS that git tracks or would track. */
export function checkStructure(root) {
  const files = new Map();
  for (const rel of listFiles(root)) {
    try {
      files.set(rel, readFileSync(join(root, rel), 'utf8'));
    } catch {
      // deleted in the working tree but still in the index
    }
  }
  return checkFiles(files);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const { failures, known } = checkStructure(root);
  for (const v of known) console.log(`known: ${v}`);
  for (const v of failures) console.log(`FAIL ${v}`);
  console.log(`structure: ${failures.length} violation(s), ${known.length} known`);
  process.exitCode = failures.length ? 1 : 0;
}
