// The plain-text space description that C++ programs without Node read (the C++ supernet tests,
// the GPU benchmark): native/supernet/space_desc_text.h parses it into the same SpaceDesc the
// binding builds from a ResolvedSpace (native/binding/convert.cpp, space_from_js), field for field.
// The format is documented in docs/parameters.md, "Space description files". The C++ writer
// (format_space_desc_text) produces the same text byte for byte: same records, and floats as
// float32 values printed like C's "%.9g" (formatG9 below), which round-trips every float32.
import type { ResolvedLayer, ResolvedSpace } from '../space/types.js';

const HEADER_COMMENT = '# greedynas space description (docs/parameters.md, "Space description files")';

/** The space name on one line: control characters become spaces, outer spaces go (as in C++). */
function oneLineName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/^ +| +$/g, '');
}

function int(v: number, field: string): string {
  if (!Number.isInteger(v) || Math.abs(v) > 2147483647) throw new Error(`space description: ${field} must be an integer, got ${v}`);
  return String(v);
}

/**
 * C's printf("%.9g", (double)(float)x): x rounded to float32 (Math.fround, as the binding's
 * double -> float conversion), then to 9 significant digits, ties to even on the exact binary value
 * (glibc's rounding), in exponent form when the exponent is < -4 or >= 9, trailing zeros removed.
 * Done on exact decimal digits (BigInt), since toExponential/toFixed round ties away from zero.
 */
export function formatG9(x: number): string {
  const v = Math.fround(x);
  if (!Number.isFinite(v)) throw new Error(`space description: ${x} is not a finite float32 number`);
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '';
  // |v| = m * 2^e exactly, m an integer (doubling a float32 value is exact in a double)
  let m = Math.abs(v);
  let e = 0;
  while (!Number.isInteger(m)) {
    m *= 2;
    e -= 1;
  }
  // exact decimal digits: |v| = digits * 10^shift
  let digits: string;
  let shift: number;
  if (e === 0) {
    digits = BigInt(m).toString();
    shift = 0;
  } else {
    digits = (BigInt(m) * 5n ** BigInt(-e)).toString();
    shift = e;
  }
  let exp10 = digits.length - 1 + shift; // exponent of the first digit
  const P = 9;
  let head: string;
  if (digits.length <= P) {
    head = digits.padEnd(P, '0');
  } else {
    head = digits.slice(0, P);
    const rest = digits.slice(P);
    const half = '5'.padEnd(rest.length, '0');
    const up = rest > half || (rest === half && Number(head[P - 1]) % 2 === 1);
    if (up) {
      const r = (BigInt(head) + 1n).toString();
      if (r.length > P) {
        head = r.slice(0, P);
        exp10 += 1;
      } else {
        head = r;
      }
    }
  }
  const stripZeros = (s: string): string => s.replace(/0+$/, '');
  if (exp10 < -4 || exp10 >= P) {
    const frac = stripZeros(head.slice(1));
    const ae = Math.abs(exp10);
    return `${sign}${head[0]}${frac ? `.${frac}` : ''}e${exp10 < 0 ? '-' : '+'}${ae < 10 ? `0${ae}` : ae}`;
  }
  let intPart: string;
  let frac: string;
  if (exp10 >= 0) {
    intPart = head.slice(0, exp10 + 1);
    frac = head.slice(exp10 + 1);
  } else {
    intPart = '0';
    frac = '0'.repeat(-exp10 - 1) + head;
  }
  frac = stripZeros(frac);
  return `${sign}${intPart}${frac ? `.${frac}` : ''}`;
}

function layerLines(rec: 'fixed' | 'layer', l: ResolvedLayer, where: string): string[] {
  const out = [
    `${rec} ${int(l.cin, `${where}.cin`)} ${int(l.cout, `${where}.cout`)} ${int(l.stride, `${where}.stride`)} ` +
      `${int(l.height, `${where}.height`)} ${int(l.width, `${where}.width`)} ${int(l.outHeight, `${where}.outHeight`)} ` +
      `${int(l.outWidth, `${where}.outWidth`)} ${l.ops.length}`,
  ];
  l.ops.forEach((op, i) => {
    const w = `${where}.ops[${i}]`;
    if (op.name.length === 0 || /[\u0000-\u0020\u007f]/.test(op.name)) {
      throw new Error(`space description: ${w}.name '${op.name}' must be one word (no blanks)`);
    }
    if (op.kind !== 'mbconv' && op.kind !== 'skip' && op.kind !== 'conv1x1') throw new Error(`space description: ${w}.kind '${String(op.kind)}'`);
    // convert.cpp reads se as a boolean (anything but true is false)
    out.push(
      `op ${op.kind} ${int(op.kernel, `${w}.kernel`)} ${int(op.expansion, `${w}.expansion`)} ${op.se === true ? 1 : 0} ` +
        `${int(op.mid, `${w}.mid`)} ${int(op.seWidth, `${w}.seWidth`)} ${op.name}`,
    );
  });
  return out;
}

/**
 * The space description text of a resolved space: the same SpaceDesc the binding builds from it
 * (name, input, classes, activation, bnEps, bnMomentum, normalization, stem, fixed, layers, head;
 * opNames and fc are derived again natively and not written).
 */
export function formatSpaceDescText(space: ResolvedSpace): string {
  const name = oneLineName(space.name);
  if (name.length === 0) throw new Error('space description: the space needs a name');
  const { input, stem, head } = space;
  const act = space.activation;
  if (act !== 'relu' && act !== 'relu6' && act !== 'hswish') throw new Error(`space description: activation '${String(act)}'`);
  const lines = [
    HEADER_COMMENT,
    'gnas-space-desc 1',
    `name ${name}`,
    `input ${int(input.height, 'input.height')} ${int(input.width, 'input.width')} ${int(input.channels, 'input.channels')} ${int(space.classes, 'classes')}`,
    `activation ${act}`,
    `bn ${formatG9(space.bnEps)} ${formatG9(space.bnMomentum)}`,
    `mean ${space.normalization.mean.map(formatG9).join(' ')}`,
    `std ${space.normalization.std.map(formatG9).join(' ')}`,
    `stem ${[stem.cin, stem.cout, stem.kernel, stem.stride, stem.height, stem.width, stem.outHeight, stem.outWidth]
      .map((v, i) => int(v, `stem[${i}]`))
      .join(' ')}`,
  ];
  space.fixed.forEach((l, i) => lines.push(...layerLines('fixed', l, `fixed[${i}]`)));
  space.layers.forEach((l, i) => lines.push(...layerLines('layer', l, `layers[${i}]`)));
  lines.push(`head ${int(head.cin, 'head.cin')} ${int(head.cout, 'head.cout')} ${int(head.height, 'head.height')} ${int(head.width, 'head.width')}`);
  return `${lines.join('\n')}\n`;
}

/** An arch as the C++ programs read it (native/supernet/space_desc_text.h, load_arch_file). */
export function formatArchText(arch: readonly number[], comment?: string): string {
  for (const c of arch) if (!Number.isInteger(c) || c < 0) throw new Error(`arch: choices must be non-negative integers, got ${c}`);
  const head = comment === undefined ? '' : `# ${oneLineName(comment)}\n`;
  return `${head}${arch.join(' ')}\n`;
}
