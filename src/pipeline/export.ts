// The last stage of `run` and the `export` command: the chosen path goes to ONNX
// (only its ops, BN folded), the file is run in onnxruntime against the engine's eval-mode
// forward on real test images (parity, with a .check.json for other runtimes), and its latency
// is profiled. Files are named by the weights they hold: `retrained-<key>.onnx` (the path
// retrained from scratch, from `run`) and `supernet-<key>.onnx` (the path's weights inside the
// trained supernet, from `export`), each with its .check.json and .profile.json. The ONNX metadata
// names the supernet path and its real op names, also for a retrained network (whose materialised
// space has one op per layer, choice 0 everywhere).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { checkParity, formatParity } from '../export/parity.js';
import { writeOnnx } from '../export/onnx.js';
import { formatProfile, profile } from '../profile/latency.js';
import { archKey } from '../space/types.js';
import { archOps } from '../space/arch-file.js';
import type { ResolvedSpace } from '../space/types.js';
import { calibrationBatches, fixedSubset, type CalibrationSettings, type Prepared } from './prepare.js';
import type { RetrainResult } from './retrain.js';

/** Base name of an exported model: what its weights are, and the path. */
export function exportName(weights: 'supernet' | 'retrained', key: string): string {
  return `${weights}-${key}`;
}

/**
 * ONNX metadata of an exported path, in the terms of the searched space: the path's key and op
 * names (a retrained network is built from a one-op-per-layer space where every choice is 0, so
 * the exporter's own "arch" and "ops" would read 0-0-0 and the op name "chosen"), the space and
 * what the weights are.
 */
export function exportMetadata(space: ResolvedSpace, arch: readonly number[], weights: 'supernet' | 'retrained'): Record<string, string> {
  const key = archKey(arch);
  return {
    space: space.name,
    arch: key,
    ops: archOps(space, arch).join(','),
    'greedynas.weights': weights,
    'greedynas.arch': key,
    'greedynas.space': space.name,
  };
}

export interface ExportStageOptions {
  log: (line: string) => void;
  /** The weights are the supernet's (not retrained): recalibrate the path's BN statistics first. */
  supernetArch?: boolean;
}

export async function exportStage(p: Prepared<CalibrationSettings>, r: RetrainResult, opts: ExportStageOptions): Promise<Record<string, unknown>> {
  const { net, space } = r;
  const arch = opts.supernetArch ? r.arch : space.layers.map(() => 0);
  if (opts.supernetArch) {
    const batches = calibrationBatches(p);
    await net.calibrateBn(arch, batches);
    opts.log(`recalibrated BN statistics of ${archKey(r.arch)} on ${batches.length} batches of training images`);
  }
  const key = archKey(r.arch);
  const weights = opts.supernetArch ? 'supernet' : 'retrained';
  const name = exportName(weights, key);
  const modelPath = join(p.dir, `${name}.onnx`);
  const exported = await writeOnnx(modelPath, space, arch, (tensor) => net.getTensor(tensor), {
    metadata: exportMetadata(p.space, r.arch, weights),
  });
  opts.log(`exported ${modelPath} (${exported.nodes} nodes, ${(exported.bytes / 1024).toFixed(0)} KiB; ${weights} weights of ${key}: ${archOps(p.space, r.arch).join(' ')})`);
  const test = fixedSubset(p.data.test, 64, p.config.seed + 1001);
  const parity = await checkParity(modelPath, net, arch, test.images, { archKey: key });
  opts.log(formatParity(parity));
  const prof = await profile(modelPath, { batchSizes: [1, 32], runs: 50, warmup: 5 });
  const profileFile = join(p.dir, `${name}.profile.json`);
  writeFileSync(profileFile, JSON.stringify(prof, null, 1) + '\n');
  opts.log(formatProfile(prof));
  return { model: modelPath, nodes: exported.nodes, bytes: exported.bytes, metadata: exported.metadata, parity, profile: profileFile };
}
