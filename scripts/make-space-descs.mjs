// Writes the space description files (docs/parameters.md, "Space description files") and fixed
// archs that the C++ programs without Node read (gnas_supernet_tests, gnas_net_bench):
//
//   bench/net/w1.desc                   from bench/w1.space.json
//   bench/net/w1.arch                   the arch of bench/w1.path.json
//   bench/net/greedynas-imagenet.desc   from spaces/greedynas-imagenet.json
//   bench/net/greedynas-imagenet.arch   layer i takes choice i mod (ops per layer), as W1 does
//
// It uses the compiled TypeScript (resolveSpace, formatSpaceDescText), so the files hold exactly
// what the engine would build from the JSON:
//
//   node scripts/make-space-descs.mjs [DIST_DIR]     (default: dist, after npm run build:ts)
//
// Rerun it whenever one of the source files or the resolution rules change; the outputs are
// committed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.argv[2] ?? join(root, 'dist'));

let resolveSpace, formatSpaceDescText, formatArchText;
try {
  ({ resolveSpace } = await import(pathToFileURL(join(dist, 'space', 'resolve.js')).href));
  ({ formatSpaceDescText, formatArchText } = await import(pathToFileURL(join(dist, 'native', 'space-desc-text.js')).href));
} catch (e) {
  console.error(`cannot load the compiled TypeScript from ${dist} (${e.message}); run npm run build:ts or pass the output folder`);
  process.exit(1);
}

const outDir = join(root, 'bench', 'net');
mkdirSync(outDir, { recursive: true });

function readJson(rel) {
  return JSON.parse(readFileSync(join(root, rel), 'utf8'));
}

function write(rel, text) {
  writeFileSync(join(root, rel), text);
  console.log(`wrote ${rel} (${text.length} bytes)`);
}

// W1: the benchmark space and its fixed path
const w1 = resolveSpace(readJson('bench/w1.space.json'));
write('bench/net/w1.desc', formatSpaceDescText(w1));
const w1Path = readJson('bench/w1.path.json');
if (!Array.isArray(w1Path.arch) || w1Path.arch.length !== w1.layers.length) {
  console.error(`bench/w1.path.json: arch must list ${w1.layers.length} choices`);
  process.exit(1);
}
write('bench/net/w1.arch', formatArchText(w1Path.arch, `bench/w1.path.json: ${w1Path.comment ?? 'the W1 benchmark path'}`));

// The GreedyNAS ImageNet space and the same i mod n path
const imagenet = resolveSpace(readJson('spaces/greedynas-imagenet.json'));
write('bench/net/greedynas-imagenet.desc', formatSpaceDescText(imagenet));
const n = imagenet.opNames.length;
const arch = imagenet.layers.map((_, i) => i % n);
write(
  'bench/net/greedynas-imagenet.arch',
  formatArchText(arch, `greedynas-imagenet benchmark path: layer i takes choice i mod ${n} (${imagenet.opNames.join(' ')})`),
);
