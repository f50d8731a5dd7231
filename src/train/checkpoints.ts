// Checkpoints of a stage: `<dir>/checkpoints/<stage>-<iteration>-<run id>.ckpt`, written by the
// native engine (atomic, checksummed) with the stage's TypeScript state (samplers, pool, schedules,
// RNG states, data order, counters) and the run id as the checkpoint's `extra` JSON, so one file
// holds everything. A store only sees the files of its own run (src/pipeline/run-dir.ts): files of
// another run in the same folder (a run set aside, or one recorded before run ids, named
// `<stage>-<iteration>.ckpt`) are reported once and left alone, never loaded or pruned.
// The newest two of the run are kept: when the newest is unreadable, resume says why and falls
// back to the previous good one instead of losing the run.
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

import type { Supernet } from '../native/engine.js';

export interface CheckpointInfo {
  file: string;
  iteration: number;
  /** null: a file named without a run id (written before run ids). */
  runId: string | null;
}

export class CheckpointStore {
  readonly folder: string;
  private readonly reported = new Set<string>();

  /**
   * `runId`: the run whose files this store writes, prunes and loads (null: a run recorded before
   * run ids). `warn` receives one message per file of another run.
   */
  constructor(
    runDir: string,
    readonly stage: string,
    readonly runId: string | null,
    private readonly warn: (msg: string) => void = () => undefined,
    private readonly keep = 2,
  ) {
    this.folder = join(runDir, 'checkpoints');
  }

  /** Every checkpoint file of the stage, of any run, newest iteration first. */
  listAll(): CheckpointInfo[] {
    if (!existsSync(this.folder)) return [];
    const re = new RegExp(`^${this.stage}-(\\d+)(?:-([0-9a-f]+))?\\.ckpt$`);
    return readdirSync(this.folder)
      .map((f) => re.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ file: join(this.folder, m[0]), iteration: Number(m[1]), runId: m[2] ?? null }))
      .sort((a, b) => b.iteration - a.iteration);
  }

  /** The checkpoint files of this store's run, newest first; files of other runs are reported (once each). */
  list(): CheckpointInfo[] {
    const all = this.listAll();
    for (const info of all) {
      if (info.runId === this.runId || this.reported.has(info.file)) continue;
      this.reported.add(info.file);
      this.warn(
        `${info.file} belongs to ${info.runId === null ? 'a run recorded without a run id' : `run ${info.runId}`}, not to this run (${this.runId ?? 'recorded without a run id'}): ignored and left in place`,
      );
    }
    return all.filter((i) => i.runId === this.runId);
  }

  fileName(iteration: number): string {
    return join(this.folder, `${this.stage}-${String(iteration).padStart(9, '0')}${this.runId === null ? '' : `-${this.runId}`}.ckpt`);
  }

  /** Writes a checkpoint holding `state` and the run id, then prunes this run's older files to the newest `keep`. */
  async save(net: Supernet, iteration: number, state: object): Promise<string> {
    mkdirSync(this.folder, { recursive: true });
    const file = this.fileName(iteration);
    await net.save(file, JSON.stringify({ ...state, runId: this.runId }));
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
   * Loads this run's newest readable checkpoint into `net` and returns its state, or null when
   * the run has none. An unreadable newer file, or one whose state names another run, is
   * reported through `warn` and skipped.
   */
  async load<T>(net: Supernet, warn: (msg: string) => void): Promise<{ state: T; info: CheckpointInfo } | null> {
    const all = this.list();
    const errors: string[] = [];
    for (const info of all) {
      try {
        const extra = await net.load(info.file);
        const state = JSON.parse(extra) as T & { runId?: string | null };
        const id = state.runId ?? null;
        if (id !== this.runId) throw new Error(`its state belongs to run ${id ?? '(none)'}, not to this run (${this.runId ?? 'none'})`);
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
