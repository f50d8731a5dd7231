// Loading search spaces by preset name (a file in the package's spaces/ folder, e.g. "fmnist",
// "greedynas-imagenet") or by path to a JSON file. Errors say what went wrong and where: a
// missing file names the path it looked for and the presets there are; bad JSON gives the line
// and column; a bad field is a SpaceError naming it (from resolveSpace) with the file appended.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { resolveSpace, SpaceError } from './resolve.js';
import type { ResolvedSpace, SpaceFile } from './types.js';

/** A space file that cannot be read or parsed (not a field error: those are SpaceErrors). */
export class SpaceLoadError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'EREAD' | 'EJSON',
    readonly file: string,
    message: string,
    /** 1-based line and column of a JSON syntax error. */
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = 'SpaceLoadError';
  }
}

export interface LoadedSpace {
  space: ResolvedSpace;
  /** The parsed file as written (validated by resolveSpace), for checkpoints and logs. */
  file: SpaceFile;
  /** Absolute path of the file read. */
  path: string;
  /** Preset name when loaded by name, otherwise null. */
  preset: string | null;
}

/** The package's spaces/ folder, or null when the package root or the folder is missing. */
export function presetDir(): string | null {
  let root: string;
  try {
    root = packageRoot();
  } catch {
    return null;
  }
  const dir = path.join(root, 'spaces');
  return existsSync(dir) && statSync(dir).isDirectory() ? dir : null;
}

/** Names of the preset spaces, sorted. */
export function listPresets(): string[] {
  const dir = presetDir();
  if (dir === null) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes('\\') || s.endsWith('.json') || s.startsWith('.');
}

/** Finds the file a name or path refers to: a preset name first, then a path. */
export function resolveSpacePath(nameOrPath: string): { path: string; preset: string | null } {
  if (typeof nameOrPath !== 'string' || nameOrPath.length === 0) {
    throw new TypeError(`space: expected a preset name or a path to a JSON file, got ${JSON.stringify(nameOrPath)}`);
  }
  if (!looksLikePath(nameOrPath)) {
    const dir = presetDir();
    if (dir !== null && listPresets().includes(nameOrPath)) return { path: path.join(dir, `${nameOrPath}.json`), preset: nameOrPath };
  }
  const abs = path.resolve(nameOrPath);
  if (existsSync(abs) && statSync(abs).isFile()) return { path: abs, preset: null };
  const presets = listPresets();
  const known = presets.length > 0 ? presets.join(', ') : 'none found';
  if (looksLikePath(nameOrPath)) throw new SpaceLoadError('ENOENT', abs, `space file not found: ${abs} (presets: ${known})`);
  throw new SpaceLoadError('ENOENT', abs, `no preset space named '${nameOrPath}' and no file ${abs} (presets: ${known})`);
}

/** Reads and parses a space file without resolving it. */
export function readSpaceJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new SpaceLoadError('ENOENT', file, `space file not found: ${file}`);
    throw new SpaceLoadError('EREAD', file, `cannot read space file ${file}: ${err.message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const found = locateJsonError(text);
    if (found === null) throw new SpaceLoadError('EJSON', file, `invalid JSON in ${file}: ${(e as Error).message}`);
    const { line, column } = lineColumn(text, found.offset);
    throw new SpaceLoadError('EJSON', file, `invalid JSON in ${file} at line ${line}, column ${column}: ${found.message}`, line, column);
  }
}

/** Loads, validates and resolves a space given by preset name or file path. */
export function loadSpaceFile(nameOrPath: string): LoadedSpace {
  const where = resolveSpacePath(nameOrPath);
  const raw = readSpaceJson(where.path);
  let space: ResolvedSpace;
  try {
    space = resolveSpace(raw);
  } catch (e) {
    if (e instanceof SpaceError) throw new SpaceError(e.field, `${e.message.slice(e.field.length + 2)} (in ${where.path})`);
    throw e;
  }
  return { space, file: raw as SpaceFile, path: where.path, preset: where.preset };
}

/** The resolved space of a preset name or a file path. */
export function loadSpace(nameOrPath: string): ResolvedSpace {
  return loadSpaceFile(nameOrPath).space;
}

// ---------------------------------------------------------------------------------------------
// JSON syntax error location. Node 20's JSON.parse reports a position for some errors only, so
// after a failed parse the text is scanned again by this small recognizer (RFC 8259 grammar).

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class JsonSyntax extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** First syntax error of `text` as {offset, message}, or null when the text is valid JSON. */
export function locateJsonError(text: string): { offset: number; message: string } | null {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntax(at, message);
  };
  const describe = (at: number): string => (at >= text.length ? 'end of input' : `'${text[at]}'`);
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${describe(i)} (expected a value)`);
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const str = (): void => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 0x20) fail('control character (e.g. a raw newline) inside a string');
      if (c === 92) {
        const n = text[i + 1];
        if (n !== undefined && '"\\/bfnrt'.includes(n)) i += 2;
        else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else fail('invalid escape sequence in a string');
      } else i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > 512) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(text[i] === '}' ? "trailing comma before '}'" : `unexpected ${describe(i)} (expected a double-quoted property name)`);
        str();
        ws();
        if (text[i] !== ':') fail(`unexpected ${describe(i)} (expected ':' after the property name)`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`unexpected ${describe(i)} (expected ',' or '}' after a property value)`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] === ']') fail("trailing comma before ']'");
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`unexpected ${describe(i)} (expected ',' or ']' after an array element)`);
      }
    }
    if (c === '"') return str();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m === null) fail('invalid number');
      else i += m[0].length;
      return;
    }
    fail(`unexpected ${describe(i)} (expected a value)`);
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e instanceof JsonSyntax) return { offset: e.offset, message: e.message };
    throw e;
  }
}
