// `profile MODEL.onnx [--batch N] [--runs N] [--provider cpu|cuda] [--json FILE]`: the command's
// arguments checked and handed to the latency profiler (src/profile/latency.ts), its report
// printed and, with --json, written to a file.
import { existsSync, writeFileSync } from 'node:fs';

import { ConfigError } from '../pipeline/config.js';
import { formatProfile, profile } from '../profile/latency.js';
import { invokedName } from './help.js';

export async function profileCommand(args: string[], options: Record<string, string>, log: (l: string) => void): Promise<void> {
  const model = args[0];
  if (!model) throw new ConfigError(`give the model file, e.g. \`${invokedName()} profile runs/latest/retrained-<key>.onnx\``);
  if (args.length > 1) throw new ConfigError(`profile takes one model file, got ${args.length}: ${args.join(' ')}`);
  if (!existsSync(model)) throw new ConfigError(`${model}: no such model file (give the .onnx file written by \`run\` or \`export\`)`);
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
