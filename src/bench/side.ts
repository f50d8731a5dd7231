// Helpers of the bench drivers (src/bench/run-bench.ts, src/bench/loader-bench.ts): the machine
// and commit recorded beside results, and a measured side run as a child process of its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export function machine(): Record<string, unknown> {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function commit(root: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() ? '-dirty' : '';
    return sha + dirty;
  } catch {
    return 'unknown';
  }
}

/** Runs a side as a child process; its stdout's last line is its JSON (progress goes to stderr). */
export function runSide<T>(what: string, exe: string, args: string[], env: NodeJS.ProcessEnv = process.env): T | string {
  const r = spawnSync(exe, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
  if (r.error) return `failed: ${r.error.message}`;
  if (r.status === 3) return 'skipped: PyTorch is not installed (apt-get install -y python3-torch)';
  if (r.status !== 0) return `${what} failed with exit code ${r.status}`;
  const text = r.stdout.trim();
  try {
    return JSON.parse(text.slice(text.lastIndexOf('\n{') + 1)) as T;
  } catch {
    return `${what}: no JSON result on stdout`;
  }
}
