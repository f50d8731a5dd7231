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
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { imageBytes, type Dataset } from './types.js';

export const CACHE_MAGIC = 'GNASDSET';
/**
 * Format version, also part of every cache's key: it changes when the stored pixels would (2: the
 * native decode and resize of src/data/image-folder.ts replaced sharp's resize and colourspace).
 */
export const CACHE_VERSION = 2;
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

/** Shape and names of the images a cache file holds. */
export interface CacheMeta {
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  classNames?: string[];
}

/**
 * Writes a cache file in pieces (the images appended in order, in chunks of any size), so a
 * folder too large for memory can be cached: the CRC is computed as the bytes go out and the
 * fixed header, which holds it, is written last. finish() makes the file appear atomically.
 */
export class DatasetCacheWriter {
  private crc: number;
  private imageBytesWritten = 0;
  private position: number;

  private constructor(
    private readonly file: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly jsonLength: number,
    private readonly expectedImageBytes: number,
    crc: number,
    position: number,
  ) {
    this.crc = crc;
    this.position = position;
  }

  static async create(file: string, key: string, meta: CacheMeta, labels: Int32Array): Promise<DatasetCacheWriter> {
    const header: CacheHeader = { key, count: meta.count, height: meta.height, width: meta.width, channels: meta.channels, classes: meta.classes, classNames: meta.classNames ?? [] };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const afterFixed = new Uint8Array(align8(FIXED_HEADER + json.length) - FIXED_HEADER);
    afterFixed.set(json, 0);
    const labelBytes = labelsToLE(labels);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      let position = 0;
      for (const part of [new Uint8Array(FIXED_HEADER), afterFixed, labelBytes]) {
        await fh.write(part, 0, part.length, position);
        position += part.length;
      }
      const crc = crc32(labelBytes, crc32(afterFixed));
      return new DatasetCacheWriter(file, tmp, fh, json.length, meta.count * imageBytes(meta), crc, position);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** Appends the next images (uint8 NHWC, any whole or partial number of images). */
  async append(images: Uint8Array): Promise<void> {
    for (let off = 0; off < images.length; off += CHUNK) {
      const chunk = images.subarray(off, off + CHUNK);
      this.crc = crc32(chunk, this.crc);
      await this.fh.write(chunk, 0, chunk.length, this.position);
      this.position += chunk.length;
    }
    this.imageBytesWritten += images.length;
  }

  /** Writes the fixed header, syncs, and renames the file into place. */
  async finish(): Promise<void> {
    if (this.imageBytesWritten !== this.expectedImageBytes) {
      await this.abort();
      throw new Error(`cache writer: ${this.imageBytesWritten} image bytes appended, the header promises ${this.expectedImageBytes}`);
    }
    const fixed = Buffer.alloc(FIXED_HEADER);
    fixed.write(CACHE_MAGIC, 0, 'latin1');
    fixed.writeUInt32LE(CACHE_VERSION, 8);
    fixed.writeUInt32LE(this.jsonLength, 12);
    fixed.writeUInt32LE(this.crc >>> 0, 16);
    try {
      await this.fh.write(fixed, 0, fixed.length, 0);
      await this.fh.sync();
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.fh.close();
    try {
      await rename(this.tmp, this.file);
    } catch (err) {
      await unlink(this.tmp).catch(() => undefined);
      throw err;
    }
    // Make the rename itself durable; best effort (not every platform can fsync a directory).
    try {
      const dir = await open(path.dirname(this.file), 'r');
      await dir.sync().catch(() => undefined);
      await dir.close();
    } catch {
      /* ignore */
    }
  }

  /** Drops the temporary file. */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}

/** Writes `ds` to `file` atomically, tagged with `key` (the fingerprint of what it was built from). */
export async function writeDatasetCache(file: string, ds: Dataset, key: string): Promise<void> {
  const meta: CacheMeta = { count: ds.labels.length, height: ds.height, width: ds.width, channels: ds.channels, classes: ds.classes };
  if (ds.classNames !== undefined) meta.classNames = ds.classNames;
  const writer = await DatasetCacheWriter.create(file, key, meta, ds.labels);
  try {
    await writer.append(ds.images);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish();
}

type HeaderRead =
  | { status: 'ok'; header: CacheHeader; afterFixed: Buffer; labelsOffset: number; imagesOffset: number; storedCrc: number; size: number }
  | { status: 'stale' | 'corrupt'; reason: string };

/** Reads and checks the headers of an open cache file: magic, version, JSON, key, file size. */
async function readHeader(fh: FileHandle, key: string): Promise<HeaderRead> {
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
  const imagesOffset = labelsOffset + header.count * 4;
  const expectedSize = imagesOffset + header.count * imageBytes(header);
  if (size !== expectedSize) return { status: 'corrupt', reason: `file has ${size} bytes, header implies ${expectedSize}` };
  return { status: 'ok', header, afterFixed, labelsOffset, imagesOffset, storedCrc, size };
}

function labelsFromLE(bytes: Buffer, count: number): Int32Array {
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = bytes.readInt32LE(4 * i);
  return labels;
}

/** Opens `file` for reading, or says it is missing. */
async function openCache(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, 'r');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads `file` if it is a complete, uncorrupted cache built for `key`; otherwise says why not. */
export async function readDatasetCache(file: string, key: string): Promise<CacheReadResult> {
  const fh = await openCache(file);
  if (!fh) return { status: 'missing', reason: 'no cache file' };
  try {
    const h = await readHeader(fh, key);
    if (h.status !== 'ok') return h;
    const { header, afterFixed, labelsOffset, imagesOffset } = h;
    const labelBytes = Buffer.alloc(header.count * 4);
    await fh.read(labelBytes, 0, labelBytes.length, labelsOffset);
    const images = new Uint8Array(header.count * imageBytes(header));
    for (let off = 0; off < images.length; off += CHUNK) {
      const len = Math.min(CHUNK, images.length - off);
      const { bytesRead } = await fh.read(images, off, len, imagesOffset + off);
      if (bytesRead !== len) return { status: 'corrupt', reason: 'short read' };
    }
    let crc = crc32(afterFixed);
    crc = crc32(labelBytes, crc);
    for (let off = 0; off < images.length; off += CHUNK) crc = crc32(images.subarray(off, off + CHUNK), crc);
    if (crc >>> 0 !== h.storedCrc) return { status: 'corrupt', reason: 'checksum mismatch' };

    const dataset: Dataset = {
      images,
      labels: labelsFromLE(labelBytes, header.count),
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

export type CacheRecordsResult =
  | { status: 'hit'; imagesOffset: number; count: number; height: number; width: number; channels: number; labels: Int32Array }
  | { status: 'missing' | 'stale' | 'corrupt'; reason: string };

/** Bytes read at a time while checking a cache file's CRC without holding it. */
const VERIFY_CHUNK = 1 << 24;

/**
 * Checks a cache file for reading image records from it at random (the streaming loader):
 * headers, key, size, and the CRC over the whole file, read once in 16 MiB pieces so that the
 * check takes constant memory (it costs one sequential read of the file). Images are record i at
 * imagesOffset + i * H*W*C.
 */
export async function openDatasetCacheRecords(file: string, key: string): Promise<CacheRecordsResult> {
  const fh = await openCache(file);
  if (!fh) return { status: 'missing', reason: 'no cache file' };
  try {
    const h = await readHeader(fh, key);
    if (h.status !== 'ok') return h;
    const buf = Buffer.alloc(VERIFY_CHUNK);
    let crc = 0;
    for (let pos = FIXED_HEADER; pos < h.size; pos += VERIFY_CHUNK) {
      const len = Math.min(VERIFY_CHUNK, h.size - pos);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead !== len) return { status: 'corrupt', reason: 'short read' };
      crc = crc32(buf.subarray(0, len), crc);
    }
    if (crc >>> 0 !== h.storedCrc) return { status: 'corrupt', reason: 'checksum mismatch' };
    const labelBytes = Buffer.alloc(h.header.count * 4);
    await fh.read(labelBytes, 0, labelBytes.length, h.labelsOffset);
    const { count, height, width, channels } = h.header;
    return { status: 'hit', imagesOffset: h.imagesOffset, count, height, width, channels, labels: labelsFromLE(labelBytes, count) };
  } finally {
    await fh.close();
  }
}
