// A path as people read it: every searchable layer's op name beside its channels and stride,
// next to the key ("3-0-6-2") that the engine and the logs use, and the standalone architecture
// file `arch.json` that `search` and `retrain` write and `retrain` / `export` take back
// (--arch FILE.json), as mmrazor's fixed-subnet files or NNI's exported architectures are.
//
// arch.json:
//   { "format": "greedynas-arch/1", "space": "fmnist-small", "key": "0-2-1-3-0-1",
//     "arch": [0, 2, 1, 3, 0, 1],
//     "layers": [{ "layer": "layers.0", "op": "k3e3", "kind": "mbconv", "in": 16, "out": 24,
//                  "stride": 2, "size": "14x14->7x7", "flops": 123456, "params": 789 }, ...],
//     "flops": 2220000, "params": 41000, ...what wrote it (source, accuracy) }
// Reading checks the path against the space it is used with: the length, the choice range and,
// when the file names its ops and channels, that they are those of the space (a file from another
// space is refused with the first layer that differs, not silently reinterpreted).
import { readFileSync } from 'node:fs';

import { writeFileAtomic } from '../util/atomic-file.js';
import { costTable } from './cost.js';
import type { Arch, ResolvedSpace } from './types.js';
import { archKey } from './types.js';

export const ARCH_FORMAT = 'greedynas-arch/1';

/** An arch file that cannot be read or does not fit the space (the CLI exits with status 2). */
export class ArchFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchFileError';
  }
}

export interface ArchLayer {
  /** Tensor-name prefix of the layer ('layers.<l>'). */
  layer: string;
  /** The op's name in the space file, e.g. 'k5e6_se' or 'id'. */
  op: string;
  /** 'mbconv'; 'skip' (identity); 'conv1x1' ('id' at a layer that changes size or width). */
  kind: string;
  in: number;
  out: number;
  stride: number;
  /** Input and output spatial size, "HxW->HxW". */
  size: string;
  flops: number;
  params: number;
}

export interface ArchDescription {
  space: string;
  key: string;
  arch: number[];
  layers: ArchLayer[];
  /** The whole path, fixed parts included (multiply-adds; trained parameters). */
  flops: number;
  params: number;
}

export interface ArchFile extends ArchDescription {
  format: typeof ARCH_FORMAT;
  [extra: string]: unknown;
}

function checkFits(space: ResolvedSpace, arch: readonly number[], what: string): void {
  const L = space.layers.length;
  const n = space.opNames.length;
  if (arch.length !== L) throw new ArchFileError(`${what}: expected ${L} choices (one per searchable layer of the space '${space.name}'), got ${arch.length}`);
  arch.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= n) throw new ArchFileError(`${what}: choice ${i} is ${JSON.stringify(c)}, expected an integer in [0, ${n - 1}] (ops ${space.opNames.map((o, j) => `${j}=${o}`).join(' ')})`);
  });
}

/** Every searchable layer of `arch` with its op, channels, stride and cost. */
export function describeArch(space: ResolvedSpace, arch: readonly number[]): ArchDescription {
  checkFits(space, arch, `arch ${archKey(arch)}`);
  const t = costTable(space);
  const layers = space.layers.map((l, i): ArchLayer => {
    const j = arch[i]!;
    const op = l.ops[j]!;
    return {
      layer: `layers.${i}`,
      op: op.name,
      kind: op.kind,
      in: l.cin,
      out: l.cout,
      stride: l.stride,
      size: `${l.height}x${l.width}->${l.outHeight}x${l.outWidth}`,
      flops: t.flops[i]![j]!,
      params: t.params[i]![j]!,
    };
  });
  return { space: space.name, key: archKey(arch), arch: [...arch], layers, flops: t.archFlops(arch), params: t.archParams(arch) };
}

/** The op names of a path, in layer order (what ONNX metadata and results.json list). */
export function archOps(space: ResolvedSpace, arch: readonly number[]): string[] {
  checkFits(space, arch, `arch ${archKey(arch)}`);
  return arch.map((j, i) => space.layers[i]!.ops[j]!.name);
}

/** One line per layer: "layers.3: k5e6_se, 40->40, s1". */
export function formatArch(d: ArchDescription): string[] {
  const width = Math.max(...d.layers.map((l) => l.layer.length));
  return d.layers.map((l) => `${`${l.layer}:`.padEnd(width + 1)} ${l.op}${l.kind === 'conv1x1' ? ' (1x1 conv)' : ''}, ${l.in}->${l.out}, s${l.stride}`);
}

/** The content of an arch.json: the description plus what wrote it (`extra`, e.g. source and accuracy). */
export function archFile(space: ResolvedSpace, arch: readonly number[], extra: Record<string, unknown> = {}): ArchFile {
  return { format: ARCH_FORMAT, ...describeArch(space, arch), ...extra } as ArchFile;
}

/**
 * arch.json text: one line per layer and compact arrays, so that the file reads as a table
 * (JSON.stringify with indentation would put every number of the path on its own line).
 */
export function archFileText(file: ArchFile): string {
  const compact = (v: unknown): string =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${compact(x)}`).join(', ')}}`
      : Array.isArray(v)
        ? `[${v.map(compact).join(', ')}]`
        : (JSON.stringify(v) ?? 'null');
  const lines = Object.entries(file).filter(([, v]) => v !== undefined).map(([k, v]) =>
    k === 'layers' && Array.isArray(v) ? `  "layers": [\n${v.map((l) => `    ${compact(l)}`).join(',\n')}\n  ]` : `  ${JSON.stringify(k)}: ${compact(v)}`,
  );
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Writes an arch.json (atomically) for `arch` with what wrote it (`extra`); returns the content. */
export function writeArchFile(path: string, space: ResolvedSpace, arch: readonly number[], extra: Record<string, unknown> = {}): ArchFile {
  const content = archFile(space, arch, extra);
  writeFileAtomic(path, archFileText(content));
  return content;
}

/** The path held by an arch.json's content, checked against `space`; `source` names the file in errors. */
export function parseArchFile(json: unknown, space: ResolvedSpace, source: string): Arch {
  const fix = `write it with \`search\` or \`retrain\`, or give --arch a key such as ${space.layers.map(() => 0).join('-')}`;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ArchFileError(`${source}: expected a JSON object with "key" or "arch": ${fix}`);
  const o = json as Record<string, unknown>;
  if (o.format !== undefined && o.format !== ARCH_FORMAT) throw new ArchFileError(`${source}: "format" is ${JSON.stringify(o.format)}, expected "${ARCH_FORMAT}"`);
  let fromKey: Arch | null = null;
  if (o.key !== undefined) {
    if (typeof o.key !== 'string' || !/^\d+(-\d+)*$/.test(o.key)) throw new ArchFileError(`${source}: "key" is ${JSON.stringify(o.key)}, expected choice indices joined by '-'`);
    fromKey = o.key.split('-').map(Number);
  }
  let fromArray: Arch | null = null;
  if (o.arch !== undefined) {
    if (!Array.isArray(o.arch) || !o.arch.every((c) => typeof c === 'number')) throw new ArchFileError(`${source}: "arch" is ${JSON.stringify(o.arch)}, expected an array of choice indices`);
    fromArray = [...(o.arch as number[])];
  }
  const arch = fromArray ?? fromKey;
  if (arch === null) throw new ArchFileError(`${source}: holds neither "key" nor "arch": ${fix}`);
  if (fromKey !== null && fromArray !== null && archKey(fromKey) !== archKey(fromArray)) {
    throw new ArchFileError(`${source}: "key" ${archKey(fromKey)} and "arch" [${fromArray.join(', ')}] disagree`);
  }
  checkFits(space, arch, source);
  if (o.layers !== undefined) {
    if (!Array.isArray(o.layers) || o.layers.length !== arch.length) {
      throw new ArchFileError(`${source}: "layers" should list the ${arch.length} searchable layers, got ${Array.isArray(o.layers) ? o.layers.length : typeof o.layers}`);
    }
    const expected = describeArch(space, arch).layers;
    o.layers.forEach((given: unknown, i) => {
      const want = expected[i]!;
      const g = (given ?? {}) as Partial<ArchLayer>;
      for (const field of ['op', 'in', 'out', 'stride'] as const) {
        if (g[field] !== undefined && g[field] !== want[field]) {
          throw new ArchFileError(
            `${source}: ${want.layer} has ${field} ${JSON.stringify(g[field])} but choice ${arch[i]} of that layer in the space '${space.name}' has ${field} ${JSON.stringify(want[field])}: the file was written for another space (its "space" says ${JSON.stringify(o.space)})`,
          );
        }
      }
    });
  }
  return arch;
}

/** Reads an arch.json and returns its path, checked against `space`. */
export function readArchFile(file: string, space: ResolvedSpace): Arch {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ArchFileError(`${file}: cannot read the arch file (${code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ArchFileError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseArchFile(json, space, file);
}

/**
 * What --arch names: a key ("0-3-6-1-...") or an arch.json file. A value of digits and dashes is
 * a key; anything else is a file. `option` names the flag in messages.
 */
export function archFromArgument(value: string, space: ResolvedSpace, option = '--arch'): Arch {
  if (/^\s*\d+(-\d+)*\s*$/.test(value)) {
    const arch = value.trim().split('-').map(Number);
    checkFits(space, arch, `${option} ${value}`);
    return arch;
  }
  return readArchFile(value, space);
}
