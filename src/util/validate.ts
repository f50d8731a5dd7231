// Argument checks shared by the library's classes (samplers, searchers): one wording for every
// "expected a positive integer" message. Space files have their own (SpaceError names the field's
// path in the file).

/** `v` if it is a safe integer >= 1 (>= 0 with allowZero); otherwise a RangeError naming `field`. */
export function positiveInt(v: number, field: string, allowZero = false): number {
  if (!Number.isSafeInteger(v) || v < (allowZero ? 0 : 1)) throw new RangeError(`${field}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, got ${v}`);
  return v;
}
