// Files that name paths: a ground-truth file (arch key -> stand-alone accuracy) and an arch list
// (one key per line, or a JSON list of keys or of choice arrays). Both are checked against the
// space, and every error names the file and the offending key or line.
import { readFileSync } from 'node:fs';

import type { ArchSpace } from '../space/arch.js';
import { assertArch } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import { archKey, parseArchKey } from '../space/types.js';

export class TruthFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TruthFileError';
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TruthFileError(`${what} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function archOf(key: string, shape: ArchSpace, where: string): Arch {
  let arch: Arch;
  try {
    arch = parseArchKey(key);
    assertArch(arch, shape, where);
  } catch (e) {
    throw new TruthFileError(`${where}: '${key}' is not a path of this space (${shape.numLayers} layers x ${shape.numChoices} choices): ${(e as Error).message}`);
  }
  return arch;
}

export interface TruthEntry {
  arch: Arch;
  key: string;
  /** Stand-alone accuracy in percent. */
  accuracy: number;
}

/**
 * Reads a truth file: a JSON object mapping arch keys ("0-1-2-...") to an accuracy, given as a
 * number or as {"accuracy": number, ...}. Accuracies are percents, unless every value lies in
 * [0, 1], in which case they are read as fractions (and reported in percent).
 */
export function parseTruth(json: unknown, shape: ArchSpace, source: string): TruthEntry[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TruthFileError(`${source}: expected a JSON object mapping arch keys to accuracies`);
  }
  const raw: Array<{ key: string; value: number }> = [];
  for (const [key, v] of Object.entries(json)) {
    const value = typeof v === 'number' ? v : typeof v === 'object' && v !== null ? (v as { accuracy?: unknown }).accuracy : undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
      throw new TruthFileError(`${source}: '${key}': expected an accuracy (a number in [0, 100], or {"accuracy": number}), got ${JSON.stringify(v)}`);
    }
    raw.push({ key, value });
  }
  if (raw.length === 0) throw new TruthFileError(`${source}: holds no path`);
  const fractions = raw.every((r) => r.value <= 1);
  const seen = new Set<string>();
  return raw.map(({ key, value }) => {
    const arch = archOf(key, shape, `${source}: key`);
    const canonical = archKey(arch);
    if (seen.has(canonical)) throw new TruthFileError(`${source}: path ${canonical} appears twice`);
    seen.add(canonical);
    return { arch, key: canonical, accuracy: fractions ? 100 * value : value };
  });
}

export function readTruthFile(file: string, shape: ArchSpace): TruthEntry[] {
  const text = readText(file, '--truth');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TruthFileError(`--truth ${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseTruth(json, shape, `--truth ${file}`);
}

/** Reads an arch list: one key per line ('#' comments and blank lines skipped), or a JSON list of keys or choice arrays. */
export function readArchList(file: string, shape: ArchSpace): Arch[] {
  const text = readText(file, '--archs');
  const trimmed = text.trim();
  let items: Array<{ key: string; where: string }>;
  if (trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new TruthFileError(`--archs ${file}: not valid JSON (${(e as Error).message})`);
    }
    items = (json as unknown[]).map((v, i) => ({ key: Array.isArray(v) ? v.join('-') : String(v), where: `--archs ${file}: entry ${i}` }));
  } else {
    items = text
      .split('\n')
      .map((line, i) => ({ key: line.replace(/#.*$/, '').trim(), where: `--archs ${file}: line ${i + 1}` }))
      .filter((l) => l.key.length > 0);
  }
  if (items.length === 0) throw new TruthFileError(`--archs ${file}: holds no path`);
  const seen = new Set<string>();
  const out: Arch[] = [];
  for (const { key, where } of items) {
    const arch = archOf(key, shape, where);
    const k = archKey(arch);
    if (seen.has(k)) continue; // a repeated path is scored once
    seen.add(k);
    out.push(arch);
  }
  return out;
}
