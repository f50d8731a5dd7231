// The held-out validation split: a stratified, seeded choice of training images that the supernet
// never trains on and the search scores paths with (the test set is never touched). Written to
// disk as JSON (validation indices plus what they were drawn from) so that every run of an
// experiment uses the same images; loading checks the file still fits the dataset.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';

import { Rng } from '../util/rng.js';
import { DataError, isPositiveInt } from './types.js';

export const SPLIT_FORMAT = 'greedynas-validation-split';
export const SPLIT_VERSION = 1;
/** Stream tag so the split's draws never coincide with another component's seed. */
const SPLIT_STREAM = 0x5911;

export interface SplitOptions {
  /** Seed of the draw (default 0). */
  seed?: number;
  /** Share of each class held out (default 0.1); ignored when perClass is given. */
  fraction?: number;
  /** Images held out per class (ImageNet: 50); overrides fraction. */
  perClass?: number;
}

/** How a split was drawn: exactly one of fraction / perClass is set. */
export type SplitRule = { fraction: number } | { perClass: number };

export interface ValidationSplit {
  seed: number;
  rule: SplitRule;
  /** Size of the dataset it was drawn from. */
  count: number;
  classes: number;
  /** CRC-32 of the dataset's labels (int32 little-endian): ties the split to one dataset. */
  labelsCrc32: number;
  /** Indices kept for training, ascending. */
  train: Int32Array;
  /** Held-out validation indices, ascending. */
  val: Int32Array;
}

/** CRC-32 of int32 labels as little-endian bytes. */
export function labelsChecksum(labels: Int32Array): number {
  const bytes = new Uint8Array(labels.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < labels.length; i++) view.setInt32(4 * i, labels[i]!, true);
  return crc32(bytes) >>> 0;
}

function ruleOf(options: SplitOptions): SplitRule {
  if (options.perClass !== undefined) {
    if (!isPositiveInt(options.perClass)) {
      throw new DataError('BAD_ARGUMENT', `perClass: expected a positive integer, got ${options.perClass}`);
    }
    return { perClass: options.perClass };
  }
  const fraction = options.fraction ?? 0.1;
  if (!(typeof fraction === 'number' && fraction > 0 && fraction < 1)) {
    throw new DataError('BAD_ARGUMENT', `fraction: expected a number in (0, 1), got ${fraction}`);
  }
  return { fraction };
}

/** Validation images drawn from a class of n images under `rule`. */
function heldOut(n: number, rule: SplitRule, cls: number): number {
  if ('perClass' in rule) {
    if (rule.perClass >= n) {
      throw new DataError(
        'BAD_ARGUMENT',
        `perClass: class ${cls} has ${n} images; holding out ${rule.perClass} would leave none for training`,
      );
    }
    return rule.perClass;
  }
  if (n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * rule.fraction)));
}

function complement(count: number, val: Int32Array): Int32Array {
  const train = new Int32Array(count - val.length);
  let k = 0;
  let v = 0;
  for (let i = 0; i < count; i++) {
    if (v < val.length && val[v] === i) v++;
    else train[k++] = i;
  }
  return train;
}

/**
 * Draws a stratified validation split: from each class, a seeded random `fraction` (rounded,
 * at least 1 and at most all but 1 image of classes with 2 or more) or `perClass` images.
 * Each class draws from its own stream (seed, class), so one class's size does not move another's choice.
 */
export function stratifiedSplit(labels: Int32Array, classes: number, options: SplitOptions = {}): ValidationSplit {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new DataError('BAD_ARGUMENT', `seed: expected a non-negative integer, got ${seed}`);
  if (!isPositiveInt(classes)) throw new DataError('BAD_ARGUMENT', `classes: expected a positive integer, got ${classes}`);
  const rule = ruleOf(options);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l < 0 || l >= classes) throw new DataError('BAD_ARGUMENT', `labels[${i}]: expected a class index in [0, ${classes}), got ${l}`);
    byClass[l]!.push(i);
  }
  const val: number[] = [];
  byClass.forEach((members, cls) => {
    const k = members.length === 0 ? 0 : heldOut(members.length, rule, cls);
    const rng = new Rng(seed, SPLIT_STREAM, cls);
    // Partial Fisher-Yates: the first k positions become a uniform k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(members.length - i);
      const t = members[i]!;
      members[i] = members[j]!;
      members[j] = t;
      val.push(members[i]!);
    }
  });
  const valSorted = Int32Array.from(val).sort();
  return {
    seed,
    rule,
    count: labels.length,
    classes,
    labelsCrc32: labelsChecksum(labels),
    train: complement(labels.length, valSorted),
    val: valSorted,
  };
}

interface SplitFile {
  format: string;
  version: number;
  seed: number;
  rule: SplitRule;
  count: number;
  classes: number;
  labelsCrc32: number;
  val: number[];
}

/** Writes the split as JSON (validation indices only; training = the rest), atomically. */
export async function saveSplit(file: string, split: ValidationSplit): Promise<void> {
  const body: SplitFile = {
    format: SPLIT_FORMAT,
    version: SPLIT_VERSION,
    seed: split.seed,
    rule: split.rule,
    count: split.count,
    classes: split.classes,
    labelsCrc32: split.labelsCrc32,
    val: Array.from(split.val),
  };
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(body) + '\n');
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Reads a split file. With `labels`, checks that it was drawn from a dataset with exactly these
 * labels (count and checksum), else SPLIT_MISMATCH.
 */
export async function loadSplit(file: string, labels?: Int32Array): Promise<ValidationSplit> {
  let body: SplitFile;
  try {
    body = JSON.parse(await readFile(file, 'utf8')) as SplitFile;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw err;
    throw new DataError('SPLIT_FORMAT', `${file}: not a JSON split file: ${(err as Error).message}`, { file, cause: err });
  }
  if (body?.format !== SPLIT_FORMAT || body.version !== SPLIT_VERSION) {
    throw new DataError('SPLIT_FORMAT', `${file}: expected format "${SPLIT_FORMAT}" version ${SPLIT_VERSION}, got ${JSON.stringify(body?.format)} version ${JSON.stringify(body?.version)}`, { file });
  }
  const { count, val } = body;
  if (!Number.isInteger(count) || count < 0 || !Array.isArray(val)) {
    throw new DataError('SPLIT_FORMAT', `${file}: missing or invalid "count" / "val"`, { file });
  }
  for (let k = 0; k < val.length; k++) {
    const i = val[k];
    if (!Number.isInteger(i) || i! < 0 || i! >= count || (k > 0 && i! <= val[k - 1]!)) {
      throw new DataError('SPLIT_FORMAT', `${file}: val[${k}] = ${i} is not a strictly ascending index below ${count}`, { file });
    }
  }
  if (labels !== undefined) {
    if (labels.length !== count) {
      throw new DataError('SPLIT_MISMATCH', `${file}: split was drawn from ${count} images, the dataset has ${labels.length}`, { file });
    }
    const crc = labelsChecksum(labels);
    if (crc !== body.labelsCrc32) {
      throw new DataError('SPLIT_MISMATCH', `${file}: split was drawn from a dataset with other labels (checksum ${body.labelsCrc32}, dataset ${crc})`, { file });
    }
  }
  const valArr = Int32Array.from(val);
  return {
    seed: body.seed,
    rule: body.rule,
    count,
    classes: body.classes,
    labelsCrc32: body.labelsCrc32,
    train: complement(count, valArr),
    val: valArr,
  };
}

/**
 * Loads the split at `file` when it exists (it must match the labels and the options, else
 * SPLIT_MISMATCH: delete it or choose another path), otherwise draws one and writes it there.
 */
export async function loadOrCreateSplit(
  file: string,
  labels: Int32Array,
  classes: number,
  options: SplitOptions = {},
): Promise<{ split: ValidationSplit; created: boolean }> {
  const rule = ruleOf(options);
  const seed = options.seed ?? 0;
  let existing: ValidationSplit | undefined;
  try {
    existing = await loadSplit(file, labels);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  if (existing) {
    if (existing.seed !== seed || JSON.stringify(existing.rule) !== JSON.stringify(rule) || existing.classes !== classes) {
      throw new DataError(
        'SPLIT_MISMATCH',
        `${file}: existing split has seed ${existing.seed} and rule ${JSON.stringify(existing.rule)}, asked for seed ${seed} and rule ${JSON.stringify(rule)}`,
        { file },
      );
    }
    return { split: existing, created: false };
  }
  const split = stratifiedSplit(labels, classes, options);
  await saveSplit(file, split);
  return { split, created: true };
}
