// The W1 workload shared by the A/B scripts (ab-round.mjs, ab-step.mjs, score-memory.mjs): the
// engine of a built tree, the bench space and path, and synthetic images, labels and paths from
// one fixed linear congruential generator written here (not from either tree's RNG module), so
// that two trees given the same calls get exactly the same work.
//
// Another workload in place of W1, for both trees alike: AB_SPACE and AB_PATH (files, relative to
// the working directory) replace the space and the path, AB_SIZE (pixels) the space's input height
// and width. E.g. the squeeze-excite blocks' eval mode:
//   AB_SPACE=spaces/greedynas-imagenet-se.json AB_PATH=bench/se.path.json AB_SIZE=112 \
//     node scripts/ab-paired.mjs OLD_TREE NEW_TREE predict
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Loads TREE (built: native addon + `npm run build:ts`); the generator starts afresh per call. */
export async function loadW1(tree = '.') {
  const root = resolve(tree);
  const { Supernet } = await import(`${root}/dist/native/engine.js`);
  const env = process.env;
  const space = JSON.parse(readFileSync(env.AB_SPACE ? resolve(env.AB_SPACE) : `${root}/bench/w1.space.json`, 'utf8'));
  const arch = JSON.parse(readFileSync(env.AB_PATH ? resolve(env.AB_PATH) : `${root}/bench/w1.path.json`, 'utf8')).arch;
  if (env.AB_SIZE) {
    const size = Number(env.AB_SIZE);
    if (!Number.isInteger(size) || size < 8) throw new Error(`AB_SIZE must be an integer >= 8, got ${env.AB_SIZE}`);
    space.input = { ...space.input, height: size, width: size };
  }
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
