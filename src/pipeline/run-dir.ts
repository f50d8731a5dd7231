// The run directory (--out) as the record of one run. A run directory holds config.json, log.jsonl
// or checkpoints/; a new run (train-supernet, run, truth) refuses such a folder unless it is told
// to continue it (--resume) or to set it aside (--force, which moves the old contents into
// <out>/.replaced-<time>/ and never deletes). Every run gets a random run id, recorded in
// config.json (`runId`) beside the hash of its resolved space (`spaceHash`); checkpoints carry the
// id in their name and state, so a run only ever prunes and loads its own files. --resume compares
// the settings that shape the trained weights with the run's config.json and refuses to continue
// with other ones (one message naming each difference) unless --allow-change. Also here: orphan
// temporary files of killed writers are removed on start, and the run's JSON files are read with
// errors that name the file and the fix.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { loadSpace } from '../space/presets.js';
import type { ResolvedSpace } from '../space/types.js';
import { rngStreamsMismatch } from '../util/rng.js';
import { ConfigError, optionOf, type RunConfig } from './config.js';

/** What makes a folder a run directory. */
export const RUN_MARKERS: readonly string[] = ['config.json', 'log.jsonl', 'checkpoints'];

/** A fresh run id: 12 hex digits. */
export function newRunId(): string {
  return randomBytes(6).toString('hex');
}

/** sha256 (hex) of the resolved space's JSON: another space, even with the same tensor shapes, has another hash. */
export function spaceHashOf(space: ResolvedSpace): string {
  return createHash('sha256').update(JSON.stringify(space)).digest('hex');
}

/** Thrown when Ctrl-C stopped a command after its checkpoint; the CLI exits with 130. */
export class Interrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Interrupted';
  }
}

/** The markers present in `dir` (none when it does not exist). */
export function runMarkers(dir: string): string[] {
  return RUN_MARKERS.filter((m) => existsSync(join(dir, m)));
}

export interface ClaimOptions {
  resume: boolean;
  force: boolean;
  log: (line: string) => void;
}

/**
 * Makes `dir` ready for a new run or for resuming one: an empty folder (or one without run
 * markers) is taken as it is; a run directory needs --resume (continued) or --force (its contents
 * are moved to <dir>/.replaced-<time>/). Returns the folder the old contents went to, if any.
 */
export function claimRunDirectory(dir: string, opts: ClaimOptions): string | null {
  if (opts.resume && opts.force) throw new ConfigError('give --resume (continue the run in --out) or --force (set it aside and start anew), not both');
  const markers = runMarkers(dir);
  if (markers.length === 0 || opts.resume) return null;
  if (!opts.force) {
    throw new ConfigError(
      `--out ${dir} already holds a run (${markers.map((m) => (m === 'checkpoints' ? 'checkpoints/' : m)).join(', ')}): continue it with --resume, ` +
        `set it aside with --force (moved into ${join(dir, '.replaced-<time>')}/, nothing is deleted), or choose another --out`,
    );
  }
  const aside = moveAside(dir);
  opts.log(`--force: moved the previous contents of ${dir} to ${aside}`);
  return aside;
}

/** Moves every entry of `dir` except earlier .replaced-* folders into a new <dir>/.replaced-<time>/. */
function moveAside(dir: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let aside = join(dir, `.replaced-${stamp}`);
  for (let i = 2; existsSync(aside); i++) aside = join(dir, `.replaced-${stamp}-${i}`);
  try {
    mkdirSync(aside);
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.replaced-')) continue;
      renameSync(join(dir, name), join(aside, name));
    }
  } catch (e) {
    throw new ConfigError(`--force: cannot move the contents of ${dir} into ${aside} (${fsReason(e)}); move them yourself or choose another --out`);
  }
  return aside;
}

/** "EACCES: permission denied" from a Node file-system error. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z]+: ([^,]+)/.exec(err.message ?? '');
  return err.code && m ? `${err.code}: ${m[1]}` : (err.message ?? String(e));
}

/**
 * Reads a JSON file of a run; a missing, unreadable or malformed file is a ConfigError that
 * names the file and says how to fix it (`fix`, e.g. "delete it or rerun train-supernet").
 */
export function readJsonFile(file: string, fix: string): unknown {
  const where = `${basename(file)} in ${dirname(file)}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${where}: cannot read (${fsReason(e)}): ${fix}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ConfigError(`${where}: not valid JSON (${(e as Error).message}): ${fix}`);
  }
}

/** How to repair a run's config.json. */
export const CONFIG_FIX = "repair it (it records the run's settings and run id) or choose another --out";

/** The run's config.json as saved (settings plus resolvedSpace, runId, spaceHash), or null when there is none. */
export function readRunRecord(dir: string): Record<string, unknown> | null {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return null;
  const obj = readJsonFile(file, CONFIG_FIX);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`config.json in ${dir}: expected a JSON object of settings: ${CONFIG_FIX}`);
  return obj as Record<string, unknown>;
}

/**
 * The run id of the run in `dir`: the one its config.json records; null for a run recorded before
 * run ids (its checkpoints have no id in their names); a fresh one when there is no config.json.
 */
export function runIdOf(dir: string): string | null {
  const record = readRunRecord(dir);
  if (!record) return newRunId();
  return typeof record.runId === 'string' && /^[0-9a-f]+$/.test(record.runId) ? record.runId : null;
}

/** Settings that shape the trained weights (with the space): --resume refuses to change them. */
export const RESUME_CHECKED: ReadonlyArray<keyof RunConfig> = ['sampler', 'seed', 'batch', 'm', 'k', 'epochs', 'lr', 'greedyWarmup', 'trainPerClass', 'valFraction', 'threads'];

function show(v: unknown): string {
  return v === null || v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** "--batch: 64 in the run, 128 now" for every checked setting where `config` differs from the run's record. */
export function resumeDifferences(record: Record<string, unknown>, config: RunConfig, spaceHash: string): string[] {
  const out: string[] = [];
  if (typeof record.spaceHash === 'string') {
    if (record.spaceHash !== spaceHash) {
      out.push(`--space: ${show(record.space)} (space hash ${record.spaceHash.slice(0, 12)}) in the run, ${config.space} (space hash ${spaceHash.slice(0, 12)}) now`);
    }
  } else if ('space' in record && record.space !== config.space) {
    out.push(`--space: ${show(record.space)} in the run, ${config.space} now`);
  }
  for (const key of RESUME_CHECKED) {
    if (!(key in record)) continue;
    if (JSON.stringify(record[key] ?? null) !== JSON.stringify(config[key] ?? null)) out.push(`--${optionOf(key)}: ${show(record[key])} in the run, ${show(config[key])} now`);
  }
  return out;
}

/**
 * --resume: refuses a run drawn with other random streams (always: --allow-change cannot make its
 * draws continue), and settings that differ from the run's config.json (all named in one message)
 * unless `allowChange`, in which case the differences are logged. Nothing to compare: accepted.
 */
export function checkResume(dir: string, config: RunConfig, spaceHash: string, allowChange: boolean, log: (line: string) => void): void {
  const record = readRunRecord(dir);
  if (!record) return;
  const streams = rngStreamsMismatch(record.rngStreams);
  if (streams !== null) {
    throw new ConfigError(
      `--resume: config.json in ${dir}: ${streams}. Start the run again: --force sets the old one aside (nothing is deleted), or choose another --out`,
    );
  }
  const diffs = resumeDifferences(record, config, spaceHash);
  if (diffs.length === 0) return;
  if (!allowChange) {
    throw new ConfigError(
      `--resume: the settings differ from the run in ${dir}: ${diffs.join('; ')}. ` +
        `Resume with the run's settings (drop these options), or give --allow-change to continue with the new ones`,
    );
  }
  log(`--allow-change: continuing the run in ${dir} with changed settings: ${diffs.join('; ')}`);
}

/** Whether a process with this pid runs (EPERM: it does, under another user). */
function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `*.tmp-<pid>` files (left by a writer killed between writing and renaming: atomic JSON
 * files, checkpoints) of processes that no longer run, in `dir` and `dir`/checkpoints. Returns the
 * removed files; each is logged.
 */
export function removeOrphanTemporaries(dir: string, log: (line: string) => void): string[] {
  const removed: string[] = [];
  for (const folder of [dir, join(dir, 'checkpoints')]) {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /\.tmp-(\d+)$/.exec(name);
      if (!m || pidAlive(Number(m[1]))) continue;
      const file = join(folder, name);
      try {
        if (!statSync(file).isFile()) continue;
        unlinkSync(file);
        removed.push(file);
        log(`removed ${file}: a temporary file of process ${m[1]}, which no longer runs`);
      } catch {
        /* removed concurrently or not ours to remove: leave it */
      }
    }
  }
  return removed;
}

export interface OpenRunOptions extends ClaimOptions {
  allowChange: boolean;
}

/**
 * Start of a command that writes a run (train-supernet, run, truth), before anything touches the
 * folder: claims --out for a new run (or sets the old one aside with --force), or checks a
 * --resume against the run's config.json. A refused command leaves the folder as it was.
 */
export function openRunDirectory(config: RunConfig, opts: OpenRunOptions): void {
  const dir = resolve(config.out);
  claimRunDirectory(dir, opts);
  if (opts.resume) checkResume(dir, config, spaceHashOf(loadSpace(config.space)), opts.allowChange, opts.log);
}
