// Checks a command makes before it writes anything, so that a refused command leaves no folder
// or file behind: which path `retrain` / `export` work on (--arch KEY, --arch FILE.json or the
// best of search.json), whether the run in --out has a supernet to load (search, rank, export),
// and whether the optional onnxruntime-node is installed when the command will need it (parity,
// profiling, the latency table of --latency-max).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { archFromArgument } from '../space/arch-file.js';
import { loadSpace } from '../space/presets.js';
import type { Arch, ResolvedSpace } from '../space/types.js';
import { CheckpointStore } from '../train/checkpoints.js';
import { ConfigError, type RunConfig } from './config.js';
import { readJsonFile } from './run-dir.js';
import { loadOnnxRuntime } from '../util/onnxruntime.js';
import { ARCH_JSON } from './search.js';

/** The path a command works on: --arch (a key or an arch.json) or, without it, the best of search.json in the run directory. */
export function chosenArch(space: ResolvedSpace, dir: string, arch: string | undefined): Arch {
  if (arch !== undefined) return archFromArgument(arch, space);
  const file = join(dir, 'search.json');
  if (!existsSync(file)) throw new ConfigError(`no --arch given and no ${file}: run \`search\` first, or pass --arch KEY or --arch ${ARCH_JSON}`);
  const fix = 'delete it and rerun `search`, or pass --arch KEY';
  const s = readJsonFile(file, fix) as { runs?: Array<{ top?: Array<{ arch?: unknown }> }> } | null;
  const best = Array.isArray(s?.runs) ? s.runs[0]?.top?.[0] : undefined;
  if (!best) throw new ConfigError(`search.json in ${dir}: holds no result: ${fix}`);
  if (!Array.isArray(best.arch) || best.arch.length !== space.layers.length || best.arch.some((c) => !Number.isInteger(c) || c < 0 || c >= space.opNames.length)) {
    throw new ConfigError(`search.json in ${dir}: its best path ${JSON.stringify(best.arch)} is not a path of the space '${space.name}': ${fix}`);
  }
  return best.arch as Arch;
}

/** chosenArch() before prepare(): the space comes from the settings, the run directory from --out. */
export function chosenArchOf(config: Pick<RunConfig, 'space' | 'out'>, arch: string | undefined): Arch {
  return chosenArch(loadSpace(config.space), resolve(config.out), arch);
}

/** search, rank and export load the run's supernet: refuse at once when --out holds none. */
export function requireSupernetCheckpoint(config: Pick<RunConfig, 'out'>): void {
  const dir = resolve(config.out);
  if (new CheckpointStore(dir, 'supernet', null).listAll().length === 0) {
    throw new ConfigError(`no supernet checkpoint of this run in ${join(dir, 'checkpoints')}: run \`train-supernet --out ${config.out}\` first`);
  }
}

/** Loads onnxruntime-node now when the command will need it, so that a missing package stops it before any work. */
export async function requireOnnxRuntime(purpose: string): Promise<void> {
  await loadOnnxRuntime(purpose);
}
