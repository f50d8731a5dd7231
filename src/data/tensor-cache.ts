// The decoded-dataset cache: one binary file per (image folder, decode options) that holds the
// whole NHWC tensor, so a folder of JPEGs is decoded once. Written atomically (temp file, fsync,
// rename); read back only when magic, version, key, sizes and checksum all agree, otherwise the
// caller rebuilds it.
//
// Layout (little-endian):
//   0   8 bytes  magic "GNASDSET"
//   8   uint32   format version (CACHE_VERSION)
//   12  uint32   J: byte length of the JSON header
//   16  uint32   CRC-32 of every byte from offset 24 to the end of the file
//   20  uint32   reserved, 0
//   24  J bytes  JSON header: {key, count, height, width, channels, classes, classNames}
//   ... zero padding to a multiple of 8
//   N x int32    labels
//   N*H*W*C      images, uint8 NHWC
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { imageBytes, type Dataset } from './types.js';

export const CACHE_MAGIC = 'GNASDSET';
export const CACHE_VERSION = 1;
const FIXED_HEADER = 24;
/** Largest single read/write; fs calls are limited to 2 GiB each. */
const CHUNK = 1 << 28;

interface CacheHeader {
  key: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  classNames: string[];
}

export type CacheReadResult =
  | { status: 'hit'; dataset: Dataset }
  | { status: 'missing' | 'stale' | 'corrupt'; reason: string };

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function labelsToLE(labels: Int32Array): Uint8Array {
  const out = new Uint8Array(labels.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < labels.length; i++) view.setInt32(4 * i, labels[i]!, true);
  return out;
}

/** Writes `ds` to `file` atomically, tagged with `key` (the fingerprint of what it was built from). */
export async function writeDatasetCache(file: string, ds: Dataset, key: string): Promise<void> {
  const header: CacheHeader = {
    key,
    count: ds.labels.length,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    classes: ds.classes,
    classNames: ds.classNames ?? [],
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const afterFixed = new Uint8Array(align8(FIXED_HEADER + json.length) - FIXED_HEADER);
  afterFixed.set(json, 0);
  const labels = labelsToLE(ds.labels);

  let crc = crc32(afterFixed);
  crc = crc32(labels, crc);
  for (let off = 0; off < ds.images.length; off += CHUNK) crc = crc32(ds.images.subarray(off, off + CHUNK), crc);

  const fixed = Buffer.alloc(FIXED_HEADER);
  fixed.write(CACHE_MAGIC, 0, 'latin1');
  fixed.writeUInt32LE(CACHE_VERSION, 8);
  fixed.writeUInt32LE(json.length, 12);
  fixed.writeUInt32LE(crc >>> 0, 16);

  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    for (const part of [fixed, afterFixed, labels]) await fh.write(part, 0, part.length);
    for (let off = 0; off < ds.images.length; off += CHUNK) {
      const chunk = ds.images.subarray(off, off + CHUNK);
      await fh.write(chunk, 0, chunk.length);
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable; best effort (not every platform can fsync a directory).
  try {
    const dir = await open(path.dirname(file), 'r');
    await dir.sync().catch(() => undefined);
    await dir.close();
  } catch {
    /* ignore */
  }
}

/** Reads `file` if it is a complete, uncorrupted cache built for `key`; otherwise says why not. */
export async function readDatasetCache(file: string, key: string): Promise<CacheReadResult> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { status: 'missing', reason: 'no cache file' };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const fixed = Buffer.alloc(FIXED_HEADER);
    if (size < FIXED_HEADER || (await fh.read(fixed, 0, FIXED_HEADER, 0)).bytesRead !== FIXED_HEADER) {
      return { status: 'corrupt', reason: `file of ${size} bytes is shorter than the header` };
    }
    if (fixed.toString('latin1', 0, 8) !== CACHE_MAGIC) return { status: 'corrupt', reason: 'bad magic' };
    const version = fixed.readUInt32LE(8);
    if (version !== CACHE_VERSION) return { status: 'stale', reason: `format version ${version}, expected ${CACHE_VERSION}` };
    const jsonLength = fixed.readUInt32LE(12);
    const storedCrc = fixed.readUInt32LE(16);
    const labelsOffset = align8(FIXED_HEADER + jsonLength);
    if (labelsOffset > size) return { status: 'corrupt', reason: 'truncated header' };
    const afterFixed = Buffer.alloc(labelsOffset - FIXED_HEADER);
    await fh.read(afterFixed, 0, afterFixed.length, FIXED_HEADER);
    let header: CacheHeader;
    try {
      header = JSON.parse(afterFixed.toString('utf8', 0, jsonLength)) as CacheHeader;
    } catch {
      return { status: 'corrupt', reason: 'unreadable JSON header' };
    }
    if (header.key !== key) return { status: 'stale', reason: 'built from other files or options' };
    const expectedSize = labelsOffset + header.count * 4 + header.count * imageBytes(header);
    if (size !== expectedSize) return { status: 'corrupt', reason: `file has ${size} bytes, header implies ${expectedSize}` };

    const labelBytes = Buffer.alloc(header.count * 4);
    await fh.read(labelBytes, 0, labelBytes.length, labelsOffset);
    const images = new Uint8Array(header.count * imageBytes(header));
    const imagesOffset = labelsOffset + labelBytes.length;
    for (let off = 0; off < images.length; off += CHUNK) {
      const len = Math.min(CHUNK, images.length - off);
      const { bytesRead } = await fh.read(images, off, len, imagesOffset + off);
      if (bytesRead !== len) return { status: 'corrupt', reason: 'short read' };
    }
    let crc = crc32(afterFixed);
    crc = crc32(labelBytes, crc);
    for (let off = 0; off < images.length; off += CHUNK) crc = crc32(images.subarray(off, off + CHUNK), crc);
    if (crc >>> 0 !== storedCrc) return { status: 'corrupt', reason: 'checksum mismatch' };

    const labels = new Int32Array(header.count);
    for (let i = 0; i < header.count; i++) labels[i] = labelBytes.readInt32LE(4 * i);
    const dataset: Dataset = {
      images,
      labels,
      height: header.height,
      width: header.width,
      channels: header.channels,
      classes: header.classes,
    };
    if (header.classNames.length > 0) dataset.classNames = header.classNames;
    return { status: 'hit', dataset };
  } finally {
    await fh.close();
  }
}
