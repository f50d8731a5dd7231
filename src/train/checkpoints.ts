// Checkpoints of a stage: `<dir>/checkpoints/<stage>-<iteration>.ckpt`, written by the native
// engine (atomic, checksummed) with the stage's TypeScript state (samplers, pool, schedules, RNG
// states, data order, counters) as the checkpoint's `extra` JSON, so one file holds everything.
// The newest two are kept: when the newest is unreadable, resume says why and falls back to the
// previous good one instead of losing the run.
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

import type { Supernet } from '../native/engine.js';

export interface CheckpointInfo {
  file: string;
  iteration: number;
}

export class CheckpointStore {
  readonly folder: string;

  constructor(
    runDir: string,
    readonly stage: string,
    private readonly keep = 2,
  ) {
    this.folder = join(runDir, 'checkpoints');
  }

  list(): CheckpointInfo[] {
    if (!existsSync(this.folder)) return [];
    const re = new RegExp(`^${this.stage}-(\\d+)\\.ckpt$`);
    return readdirSync(this.folder)
      .map((f) => re.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ file: join(this.folder, m[0]), iteration: Number(m[1]) }))
      .sort((a, b) => b.iteration - a.iteration);
  }

  async save(net: Supernet, iteration: number, state: unknown): Promise<string> {
    mkdirSync(this.folder, { recursive: true });
    const file = join(this.folder, `${this.stage}-${String(iteration).padStart(9, '0')}.ckpt`);
    await net.save(file, JSON.stringify(state));
    for (const old of this.list().slice(this.keep)) {
      try {
        unlinkSync(old.file);
      } catch {
        /* removed concurrently: fine */
      }
    }
    return file;
  }

  /**
   * Loads the newest readable checkpoint into `net` and returns its state, or null when there is
   * none. An unreadable newer file is reported through `warn` and skipped.
   */
  async load<T>(net: Supernet, warn: (msg: string) => void): Promise<{ state: T; info: CheckpointInfo } | null> {
    const all = this.list();
    const errors: string[] = [];
    for (const info of all) {
      try {
        const extra = await net.load(info.file);
        const state = JSON.parse(extra) as T;
        for (const e of errors) warn(e);
        return { state, info };
      } catch (e) {
        errors.push(`checkpoint ${info.file} refused: ${(e as Error).message}; trying the previous one`);
      }
    }
    if (all.length > 0) throw new Error(`no usable checkpoint in ${this.folder}:\n  ${errors.join('\n  ')}`);
    return null;
  }
}
