// Progress of long work: a one-line bar with rate and ETA on a terminal, plain lines (at most
// one every few seconds) when stdout is not a terminal, nothing when quiet. Log and progress
// lines start with the local time of day (clockTime), so a run's output says when each step
// happened and how long the gaps between them were.
export class Progress {
  private readonly started = Date.now();
  private lastPlain = 0;
  private lastWidth = 0;
  readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  /** `done` items of `total`, from `base` at construction (a resumed run counts its rate from there). */
  update(done: number, info = '', base = 0): void {
    if (this.quiet) return;
    const now = Date.now();
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? (done - base) / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Number.NaN;
    const pct = this.total > 0 ? Math.min(100, (100 * done) / this.total) : 100;
    const text = `${clockTime(new Date(now))} ${this.label} ${done}/${this.total} ${pct.toFixed(0)}% ${rate.toFixed(2)} ${this.unit}/s ETA ${formatSeconds(eta)}${info ? ' ' + info : ''}`;
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - text.length - 4));
      const filled = Math.round((width * pct) / 100);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
      this.stream.write('\r' + line + ' '.repeat(Math.max(0, this.lastWidth - line.length)));
      this.lastWidth = line.length;
    } else if (now - this.lastPlain > 5000 || done === this.total) {
      this.stream.write(text + '\n');
      this.lastPlain = now;
    }
  }

  /** Ends the bar's line so the next output starts clean. */
  done(): void {
    if (!this.quiet && this.tty && this.lastWidth > 0) this.stream.write('\n');
    this.lastWidth = 0;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** The local time of day as HH:MM:SS, the prefix of log and progress lines. */
export function clockTime(d: Date = new Date()): string {
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * A log message with the time in front of its first non-empty line (a leading blank line that
 * separates stages stays blank); the lines under it (a table of layers) keep their own indent.
 */
export function stamped(text: string, d: Date = new Date()): string {
  const at = text.search(/[^\n]/);
  return at < 0 ? text : `${text.slice(0, at)}${clockTime(d)} ${text.slice(at)}`;
}
