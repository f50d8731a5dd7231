// What made a run's numbers: the package version, the git commit of the checkout (when greedynas
// runs from its own git checkout), the machine (CPU model, cores, platform), the engine's thread
// count and the Node version. config.json and results.json carry it, so that a result file read a
// month later still says which code on which machine produced it.
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { availableParallelism, cpus, platform, release, arch as cpuArch } from 'node:os';
import { join, resolve } from 'node:path';

import { packageRoot } from './package-root.js';

export interface Provenance {
  package: { name: string; version: string };
  /** HEAD of the git checkout greedynas runs from, with "+dirty" when tracked files differ; null when not a checkout (an installed package) or git is absent. */
  gitCommit: string | null;
  node: string;
  platform: string;
  cpu: { model: string; cores: number };
  /** Engine threads of this run (--threads, 0 resolved to the cores). */
  threads: number;
  /** GPUs of this run (--gpus; 0 = CPU). */
  gpus: number;
}

let versionCache: { name: string; version: string } | undefined;

/** greedynas's own name and version, from its package.json. */
export function packageVersion(): { name: string; version: string } {
  if (versionCache) return versionCache;
  const pj = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string };
  versionCache = { name: pj.name ?? 'greedynas', version: pj.version ?? '0.0.0' };
  return versionCache;
}

let commitCache: string | null | undefined;

const same = (a: string, b: string): boolean => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
};

/**
 * The commit of the checkout holding this package, or null. Only the package's own checkout
 * counts: an installed package inside someone else's repository (node_modules/greedynas) would
 * otherwise report that repository's commit.
 */
export function gitCommit(): string | null {
  if (commitCache !== undefined) return commitCache;
  commitCache = null;
  const root = packageRoot();
  const git = (...args: string[]): string | null => {
    const r = spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return r.status === 0 && typeof r.stdout === 'string' ? r.stdout.trim() : null;
  };
  const top = git('rev-parse', '--show-toplevel');
  if (top === null || !same(top, root)) return commitCache;
  const head = git('rev-parse', 'HEAD');
  if (head === null || !/^[0-9a-f]{40}$/.test(head)) return commitCache;
  // Uncommitted changes to tracked files make the commit alone an incomplete record.
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  commitCache = dirty ? `${head}+dirty` : head;
  return commitCache;
}

/** The record for a run with these engine settings. */
export function provenance(settings: { threads: number; gpus?: number }): Provenance {
  const cores = availableParallelism();
  return {
    package: packageVersion(),
    gitCommit: gitCommit(),
    node: process.version,
    platform: `${platform()} ${release()} ${cpuArch()}`,
    cpu: { model: cpus()[0]?.model.trim() ?? 'unknown', cores },
    threads: settings.threads > 0 ? settings.threads : cores,
    gpus: settings.gpus ?? 0,
  };
}
