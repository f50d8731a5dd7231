// The W1 workload shared by the A/B scripts (ab-round.mjs, ab-step.mjs, score-memory.mjs): the
// engine of a built tree, the bench space and path, and synthetic images, labels and paths from
// one fixed linear congruential generator written here (not from either tree's RNG module), so
// that two trees given the same calls get exactly the same work.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Loads TREE (built: native addon + `npm run build:ts`); the generator starts afresh per call. */
export async function loadW1(tree = '.') {
  const root = resolve(tree);
  const { Supernet } = await import(`${root}/dist/native/engine.js`);
  const space = JSON.parse(readFileSync(`${root}/bench/w1.space.json`, 'utf8'));
  const arch = JSON.parse(readFileSync(`${root}/bench/w1.path.json`, 'utf8')).arch;
  const { height, width, channels } = space.input;
  const layers = space.stages.reduce((n, st) => n + st.layers, 0);
  let s = 1;
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
  return {
    root,
    Supernet,
    space,
    arch,
    images: (n) => Uint8Array.from({ length: n * height * width * channels }, () => Math.floor(rnd() * 256)),
    labels: (n) => Int32Array.from({ length: n }, () => Math.floor(rnd() * space.classes)),
    paths: (m) => Array.from({ length: m }, () => Array.from({ length: layers }, () => Math.floor(rnd() * space.ops.length))),
  };
}

/** The engine calls the A/B scripts time, by name. */
export const W1_CALLS = ['train', 'predict', 'evaluate'];

/**
 * One timed unit of work on the W1 path: train = trainStep (lr 0.01), predict = eval mode (BN
 * running statistics), evaluate = scoring with BN statistics from the batch.
 */
export function w1Call(net, arch, what, images, labels) {
  if (what === 'train') return net.trainStep(arch, images, labels, { lr: 0.01 });
  if (what === 'predict') return net.predict(arch, images, { bn: 'running' });
  if (what === 'evaluate') return net.evaluate([arch], images, labels, { bn: 'batch' });
  throw new Error(`expected one of ${W1_CALLS.join(', ')}, got ${what}`);
}
