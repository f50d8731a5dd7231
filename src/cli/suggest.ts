// "Did you mean": the closest known names to a mistyped command or option, by edit distance
// (Levenshtein: insertions, deletions, substitutions), at most 2 edits away, plus the names a
// mistyped word is the start of ('train' -> 'train-supernet'). Two edits catch the usual slips
// (a doubled or dropped letter, two swapped letters) without suggesting unrelated names.
export const MAX_EDITS = 2;

/** Edit distance between a and b (two-row dynamic programme). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/**
 * Known names close to `word`, closest first (ties in the given order): those within MAX_EDITS
 * edits, then those that start with `word` (when it has at least 3 characters).
 */
export function suggestions(word: string, known: readonly string[], maxEdits = MAX_EDITS): string[] {
  const w = word.toLowerCase();
  const scored = known
    .map((k, i) => ({ k, i, d: levenshtein(w, k.toLowerCase()) }))
    .filter((s) => s.d > 0 && s.d <= maxEdits)
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .map((s) => s.k);
  const prefixed = w.length >= 3 ? known.filter((k) => k.toLowerCase().startsWith(w) && k.toLowerCase() !== w) : [];
  return [...new Set([...scored, ...prefixed])];
}

/** " Did you mean --epochs?" / " Did you mean --a or --b?" or '' (format: how to print a name). */
export function didYouMean(word: string, known: readonly string[], format: (name: string) => string = (n) => n): string {
  const s = suggestions(word, known).slice(0, 3).map(format);
  if (s.length === 0) return '';
  return ` Did you mean ${s.length === 1 ? s[0] : `${s.slice(0, -1).join(', ')} or ${s[s.length - 1]}`}?`;
}
