// The CPU backend's per-op profile (GNAS_CPU_PROFILE=1 prints it on stderr when a backend is
// destroyed), read back for the analysis scripts (step-roofline.mjs, profile-compare.mjs).
import { readFileSync } from 'node:fs';

/**
 * The profile table of `file`: one row per op and shape, { total, calls, fastest, op, shape },
 * times in ms; `fastest` (the fastest call) is undefined in profiles from before that column.
 */
export function readProfile(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\s*total ms\s+calls/.test(l));
  if (start < 0) throw new Error(`${file}: no "cpu backend profile" table (run with GNAS_CPU_PROFILE=1)`);
  const rows = [];
  for (const line of lines.slice(start + 1)) {
    // total ms, calls, ms/call, the fastest call (absent in older profiles), op, shape
    const m = line.match(/^\s*([\d.]+)\s+(\d+)\s+([\d.]+)\s+(?:([\d.]+)\s+)?([a-z]\S*)\s*(.*)$/);
    if (!m) continue;
    const [, total, calls, , fastest, op, shape] = m;
    rows.push({ total: Number(total), calls: Number(calls), fastest: fastest === undefined ? undefined : Number(fastest), op, shape: ` ${shape}` });
  }
  return rows;
}

/** The numbers in a profile shape (" N128 28x28 C16 K96 k1 s1 +out_bn"); NaN where absent. */
export function shapeDims(shape) {
  const num = (re) => {
    const m = shape.match(re);
    return m ? Number(m[1]) : NaN;
  };
  return {
    N: num(/N(\d+)/), H: num(/ (\d+)x\d+/), W: num(/ \d+x(\d+)/), C: num(/C(\d+)/), K: num(/K(\d+)/),
    k: num(/ k(\d+)/), s: num(/ s(\d+)/), M: num(/M(\d+)/), n: num(/n(\d+)/),
  };
}

/** Whether a profile op is a convolution (dense or depthwise, any form). */
export function isConv(op) {
  return op.startsWith('conv_') || op.startsWith('dwconv_');
}

/**
 * FLOPs of one call of a (depthwise) convolution, 2 per multiply-add: a backward call counts its
 * input gradient and its weight gradient, except the stem's (C <= 3), which has no input gradient.
 */
export function convFlops(op, shape) {
  const { N, H, W, C, K, k, s } = shapeDims(shape);
  const P = Math.ceil(H / s), Q = Math.ceil(W / s);
  const forward = 2 * N * P * Q * (op.startsWith('dwconv_') ? C * k * k : C * K * k * k);
  return op.includes('backward') && C > 3 ? 2 * forward : forward;
}
