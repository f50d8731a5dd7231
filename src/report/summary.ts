// Plain-text tables for the CLI: columns padded to their widest cell, separated by two spaces,
// a dashed rule under the header. A column whose cells are all numbers (or empty) is right-aligned,
// so digits line up; others are left-aligned. Widths count code points, so 'ε' or 'π' is one column.

/** Numbers as the CLI prints them: 12, -0.5, 1.2e-3, 85.3%, 1,024, 3.1M, 12x. */
const NUMERIC = /^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?(?:%|x|[kKMGT])?$/;

function isNumeric(cell: string): boolean {
  const s = cell.trim();
  return /\d/.test(s) && NUMERIC.test(s);
}

const width = (s: string): number => [...s].length;

/**
 * Aligned plain-text table of `rows` under `header`. Rows may be shorter than the header (missing
 * cells are empty), not longer; cells must not contain line breaks. No trailing spaces.
 */
export function formatTable(rows: string[][], header: string[]): string {
  if (!Array.isArray(header) || header.length === 0) throw new TypeError('formatTable: header must be a non-empty array of strings');
  if (!Array.isArray(rows)) throw new TypeError('formatTable: rows must be an array');
  const n = header.length;
  const all = [header, ...rows];
  all.forEach((r, i) => {
    const what = i === 0 ? 'header' : `row ${i - 1}`;
    if (!Array.isArray(r)) throw new TypeError(`formatTable: ${what} is not an array`);
    if (r.length > n) throw new RangeError(`formatTable: ${what} has ${r.length} cells, the header ${n}`);
    r.forEach((c, j) => {
      if (typeof c !== 'string') throw new TypeError(`formatTable: ${what}, column ${j}: expected a string, got ${typeof c}`);
      if (/[\r\n]/.test(c)) throw new RangeError(`formatTable: ${what}, column ${j}: cells cannot contain line breaks`);
    });
  });
  const cell = (r: string[], j: number): string => r[j] ?? '';
  const widths = header.map((_, j) => Math.max(...all.map((r) => width(cell(r, j)))));
  const right = header.map((_, j) => {
    const body = rows.map((r) => cell(r, j)).filter((c) => c.trim() !== '');
    return body.length > 0 && body.every(isNumeric);
  });
  const line = (r: string[]): string =>
    header
      .map((_, j) => {
        const c = cell(r, j);
        const pad = ' '.repeat((widths[j] as number) - width(c));
        return right[j] ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
