// IDX files (the MNIST / Fashion-MNIST container), plain or gzipped: parsing with errors that
// name the file and the defect (bad magic, truncated, trailing bytes, count mismatch), encoding
// (for tests and scripts/make-fmnist-mini.mjs), and turning an images + labels pair into a
// Dataset.
//
// Layout: two zero bytes, a type byte (0x08 = unsigned byte; the only type read here), the
// number of dimensions D, then D big-endian uint32 sizes, then the values, row-major.
// Images are [N, H, W] (one channel) or [N, H, W, C]; labels are [N].
import { readFile, writeFile } from 'node:fs/promises';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { DataError, type Dataset } from './types.js';

const gunzip = promisify(gunzipCb);
const gzip = promisify(gzipCb);

const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** One IDX array of unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** True when the bytes start with the gzip magic (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses an (already decompressed) IDX byte buffer. `file` only names the source in errors. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length < 4) {
    throw new DataError('IDX_TRUNCATED', `${file}: truncated IDX file: ${bytes.length} bytes, shorter than the 4-byte magic`, { file });
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataError('IDX_BAD_MAGIC', `${file}: not an IDX file: magic bytes are ${hex}, expected 00 00 <type> <dims>`, { file });
  }
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (!(type in IDX_TYPE_NAMES)) {
    throw new DataError('IDX_BAD_MAGIC', `${file}: not an IDX file: unknown element type 0x${type.toString(16)}`, { file });
  }
  if (type !== IDX_UBYTE) {
    throw new DataError('IDX_UNSUPPORTED', `${file}: IDX element type ${IDX_TYPE_NAMES[type]} is not supported (only uint8)`, { file });
  }
  if (ndims < 1) {
    throw new DataError('IDX_BAD_MAGIC', `${file}: IDX header declares 0 dimensions`, { file });
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError('IDX_TRUNCATED', `${file}: truncated IDX file: header needs ${headerBytes} bytes, file has ${bytes.length}`, { file });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const expected = headerBytes + count;
  if (bytes.length < expected) {
    throw new DataError(
      'IDX_TRUNCATED',
      `${file}: truncated IDX file: dims [${dims.join(', ')}] need ${expected} bytes, file has ${bytes.length}`,
      { file },
    );
  }
  if (bytes.length > expected) {
    throw new DataError(
      'IDX_TRAILING_DATA',
      `${file}: IDX file has ${bytes.length - expected} bytes after the data that dims [${dims.join(', ')}] declare`,
      { file },
    );
  }
  return { dims, data: bytes.subarray(headerBytes, expected) };
}

/** Reads an IDX file, gunzipping it when it starts with the gzip magic (whatever its name). */
export async function readIdxFile(file: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(file);
  if (isGzip(bytes)) {
    try {
      bytes = await gunzip(bytes);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'Z_BUF_ERROR') {
        throw new DataError('IDX_TRUNCATED', `${file}: truncated gzip stream (unexpected end of file)`, { file, cause: err });
      }
      throw new DataError('IDX_BAD_GZIP', `${file}: corrupt gzip stream: ${(err as Error).message}`, { file, cause: err });
    }
  }
  return parseIdx(bytes, file);
}

/** Encodes a uint8 array of shape `dims` as IDX bytes. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > 255 || !dims.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)) {
    throw new DataError('BAD_ARGUMENT', `dims: expected 1..255 sizes in [0, 2^32), got [${dims.join(', ')}]`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new DataError('BAD_ARGUMENT', `data: expected ${count} bytes for dims [${dims.join(', ')}], got ${data.length}`);
  }
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Writes an IDX file, gzipped (level 9) when `gzip` is true. Not atomic: for tests and scripts. */
export async function writeIdxFile(
  file: string,
  dims: readonly number[],
  data: Uint8Array,
  options: { gzip?: boolean } = {},
): Promise<void> {
  const raw = encodeIdx(dims, data);
  await writeFile(file, options.gzip ? await gzip(raw, { level: 9 }) : raw);
}

export interface IdxDatasetOptions {
  /** Number of classes; default: largest label + 1. */
  classes?: number;
  classNames?: string[];
}

/** Builds a Dataset from parsed images ([N,H,W] or [N,H,W,C]) and labels ([N]). */
export function idxToDataset(
  images: IdxArray,
  labels: IdxArray,
  options: IdxDatasetOptions = {},
  names: { images: string; labels: string } = { images: '<images>', labels: '<labels>' },
): Dataset {
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DataError(
      'IDX_UNSUPPORTED',
      `${names.images}: expected image dims [N, H, W] or [N, H, W, C], got [${images.dims.join(', ')}]`,
      { file: names.images },
    );
  }
  if (labels.dims.length !== 1) {
    throw new DataError('IDX_UNSUPPORTED', `${names.labels}: expected label dims [N], got [${labels.dims.join(', ')}]`, {
      file: names.labels,
    });
  }
  const [n, height, width, channels = 1] = images.dims as [number, number, number, number?];
  if (labels.dims[0] !== n) {
    throw new DataError(
      'IDX_COUNT_MISMATCH',
      `image/label count mismatch: ${names.images} has ${n} images, ${names.labels} has ${labels.dims[0]} labels`,
      { file: names.labels },
    );
  }
  const labelArray = Int32Array.from(labels.data);
  let maxLabel = -1;
  for (const l of labelArray) if (l > maxLabel) maxLabel = l;
  const classes = options.classes ?? (options.classNames?.length || maxLabel + 1);
  if (maxLabel >= classes) {
    throw new DataError('IDX_BAD_LABEL', `${names.labels}: label ${maxLabel} is not below the ${classes} classes`, {
      file: names.labels,
    });
  }
  if (height === 0 || width === 0 || channels === 0 || classes < 1) {
    throw new DataError('IDX_UNSUPPORTED', `${names.images}: empty image shape [${images.dims.join(', ')}]`, { file: names.images });
  }
  const ds: Dataset = {
    // Copy into a plain Uint8Array the dataset owns (the parsed data is a view into the whole
    // file, often a Buffer, whose slice() would not copy).
    images: new Uint8Array(images.data),
    labels: labelArray,
    height,
    width,
    channels,
    classes,
  };
  if (options.classNames !== undefined) {
    if (options.classNames.length !== classes) {
      throw new DataError('BAD_ARGUMENT', `classNames: expected ${classes} names, got ${options.classNames.length}`);
    }
    ds.classNames = [...options.classNames];
  }
  return ds;
}

/** Reads an images file and a labels file (each plain or gzipped) into one Dataset. */
export async function loadIdxDataset(imagesFile: string, labelsFile: string, options: IdxDatasetOptions = {}): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdxFile(imagesFile), readIdxFile(labelsFile)]);
  return idxToDataset(images, labels, options, { images: imagesFile, labels: labelsFile });
}
