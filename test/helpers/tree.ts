// Test helper (not a test): a folder tree as {relative path: content hash}, so that a test can
// assert that a refused command left a run directory byte for byte as it was. Under test/ the
// runner also loads this file as a test file; it defines no tests.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file and folder under `dir` with its content hash: equal snapshots = nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(join(d, e.name), r);
      } else {
        out[r] = createHash('sha256').update(readFileSync(join(d, e.name))).digest('hex');
      }
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out;
}
