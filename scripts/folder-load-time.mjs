#!/usr/bin/env node
// Time to decode one image-folder split whole into memory (loadImageFolder, cache off), with the
// SHA-256 of the resulting tensor, so two trees (before / after a change to the decode) can be
// compared for speed and for identical pixels.
//   npm run build:ts && node scripts/folder-load-time.mjs SPLIT_DIR [CHANNELS] [TREE]
// SPLIT_DIR: <split>/<class>/<image> (e.g. CIFAR-10's cifar10/train from ../shared/data);
// CHANNELS: 3 (default) or 1; TREE: a checkout whose dist/ is built (default: this one), e.g. a
// `git worktree add --detach /tmp/base COMMIT` with node_modules linked and `npx tsc -p tsconfig.json` run.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [dir, channelsArg = '3', treeArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: node scripts/folder-load-time.mjs SPLIT_DIR [CHANNELS] [TREE]');
const channels = Number(channelsArg);
if (channels !== 1 && channels !== 3) throw new Error(`CHANNELS must be 1 or 3, got ${channelsArg}`);
const tree = path.resolve(treeArg ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const { loadImageFolder } = await import(pathToFileURL(path.join(tree, 'dist', 'data', 'image-folder.js')).href);
const c0 = process.cpuUsage();
const t0 = performance.now();
const { dataset } = await loadImageFolder(dir, { cacheDir: false, channels });
const c = process.cpuUsage(c0);
console.log(
  JSON.stringify({
    tree,
    images: dataset.labels.length,
    seconds: +((performance.now() - t0) / 1000).toFixed(2),
    cpuSeconds: +((c.user + c.system) / 1e6).toFixed(2),
    sha256: createHash('sha256').update(dataset.images).digest('hex').slice(0, 16),
  }),
);
