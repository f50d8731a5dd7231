// The last stage of `run` and the `export` / `profile` commands: the chosen path goes to ONNX
// (only its ops, BN folded), the file is run in onnxruntime against the engine's eval-mode
// forward on real test images (parity, with a .check.json for other runtimes), and its latency
// is profiled.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { checkParity, formatParity } from '../export/parity.js';
import { writeOnnx } from '../export/onnx.js';
import { formatProfile, profile } from '../profile/latency.js';
import { archKey } from '../space/types.js';
import type { Prepared } from '../train/prepare.js';
import { calibrationBatches, fixedSubset } from '../train/prepare.js';
import type { RetrainResult } from '../train/retrain.js';
import { ConfigError } from '../train/config.js';

export interface ExportStageOptions {
  log: (line: string) => void;
  /** The weights are the supernet's (not retrained): recalibrate the path's BN statistics first. */
  supernetArch?: boolean;
}

export async function exportStage(p: Prepared, r: RetrainResult, opts: ExportStageOptions): Promise<Record<string, unknown>> {
  const { net, space } = r;
  const arch = opts.supernetArch ? r.arch : space.layers.map(() => 0);
  if (opts.supernetArch) {
    const batches = calibrationBatches(p);
    await net.calibrateBn(arch, batches);
    opts.log(`recalibrated BN statistics of ${archKey(r.arch)} on ${batches.length} batches of training images`);
  }
  const name = `best-${archKey(r.arch)}`;
  const modelPath = join(p.dir, `${name}.onnx`);
  const exported = await writeOnnx(modelPath, space, arch, (tensor) => net.getTensor(tensor), {
    metadata: { 'greedynas.weights': opts.supernetArch ? 'supernet' : 'retrained', 'greedynas.arch': archKey(r.arch), 'greedynas.space': p.space.name },
  });
  opts.log(`exported ${modelPath} (${exported.nodes} nodes, ${(exported.bytes / 1024).toFixed(0)} KiB)`);
  const test = fixedSubset(p.data.test, 64, p.config.seed + 1001);
  const parity = await checkParity(modelPath, net, arch, test.images);
  opts.log(formatParity(parity));
  const prof = await profile(modelPath, { batchSizes: [1, 32], runs: 50, warmup: 5 });
  const profileFile = join(p.dir, `${name}.profile.json`);
  writeFileSync(profileFile, JSON.stringify(prof, null, 1) + '\n');
  opts.log(formatProfile(prof));
  return { model: modelPath, nodes: exported.nodes, bytes: exported.bytes, metadata: exported.metadata, parity, profile: profileFile };
}

/** `profile MODEL.onnx [--batch N] [--runs N] [--provider cpu|cuda] [--json FILE]` */
export async function profileCommand(args: string[], options: Record<string, string>, log: (l: string) => void): Promise<void> {
  const model = args[0];
  if (!model) throw new ConfigError('give the model file, e.g. `node dist/run.js profile runs/latest/best.onnx`');
  const opt = (k: string): string | undefined => options[k];
  const num = (k: string, def: number) => {
    const v = opt(k);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${k}: expected a positive integer, got '${v}'`);
    return n;
  };
  const provider = opt('provider') ?? 'cpu';
  if (provider !== 'cpu' && provider !== 'cuda') throw new ConfigError(`--provider: expected cpu or cuda, got '${provider}'`);
  const batch = num('batch', 8);
  const report = await profile(model, { batchSizes: batch === 1 ? [1] : [1, batch], runs: num('runs', 100), provider });
  log(formatProfile(report));
  const json = opt('json');
  if (json) {
    writeFileSync(json, JSON.stringify(report, null, 1) + '\n');
    log(`report written to ${json}`);
  }
}
