// log.jsonl of a run: one JSON object per line (every GreedyNAS round, every training
// iteration's path and loss for the baselines, every epoch summary, every search generation).
// Its byte length is saved in each checkpoint, and a resumed run cuts the file back to that
// length, so the log holds exactly the history of the weights it ends with. Each record carries
// `time`, when it was written (ISO 8601, UTC): how long rounds, epochs and generations took, and
// where a resumed run picked up, read straight from the log.
import { appendFileSync, existsSync, statSync, truncateSync } from 'node:fs';

export class RunLog {
  constructor(readonly file: string) {}

  get bytes(): number {
    return existsSync(this.file) ? statSync(this.file).size : 0;
  }

  write(record: Record<string, unknown>): void {
    appendFileSync(this.file, JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n');
  }

  /** Drops whatever was logged after a checkpoint (work that the resumed run will redo). */
  truncate(bytes: number): void {
    if (existsSync(this.file) && statSync(this.file).size > bytes) truncateSync(this.file, bytes);
  }
}
