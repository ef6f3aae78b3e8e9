/**
 * Reading tar streams: layers from the registry (by media type) and local archives that ADD
 * unpacks (by their first bytes). Everything streams; bytes are never held whole.
 */
import { open } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import type { LayerEntry, NodeType } from './fs-tree.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** Node 22.15+ has zstd; Node 20 does not. */
const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export function compressionOfMediaType(mediaType: string): Compression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('.diff.tar')) return 'none';
  throw new ArchiveError(`unsupported layer media type ${mediaType}`);
}

/** A stream that undoes `compression`; undefined for plain tar. */
export function decompressor(compression: Compression): Transform | undefined {
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      if (!zstd) throw new ArchiveError('zstd-compressed content needs Node 22.15 or later');
      return zstd();
    case 'bzip2':
    case 'xz':
      throw new ArchiveError(`${compression} archives are not supported by the native builder (use gzip or plain tar, or the buildah builder)`);
  }
}

/**
 * What a local file is, from its first bytes: a (compressed) tar archive that ADD unpacks, or
 * undefined for anything else (copied as it is). A compressed file is an archive only when its
 * decompressed start looks like tar, as Docker decides.
 */
export async function sniffArchive(path: string): Promise<Compression | undefined> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    const bytes = head.subarray(0, bytesRead);
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return (await gzipHoldsTar(path)) ? 'gzip' : undefined;
    if (bytes.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (bytes.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (bytes.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    return isTarHeader(bytes) ? 'none' : undefined;
  } finally {
    await handle.close();
  }
}

/** A ustar/gnu header block: the magic at 257, or a valid header checksum (old v7 tar). */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const magic = block.subarray(257, 262).toString('latin1');
  if (magic === 'ustar') return true;
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored && block[0] !== 0;
}

async function gzipHoldsTar(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  const gunzip = zlib.createGunzip();
  const stream = handle.createReadStream();
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream.pipe(gunzip)) {
      head = Buffer.concat([head, chunk as Buffer]);
      if (head.length >= 512) break;
    }
  } catch {
    return false;
  } finally {
    stream.destroy();
    gunzip.destroy();
    await handle.close().catch(() => {});
  }
  return isTarHeader(head.subarray(0, 512));
}

function nodeType(type: Header['type'] | undefined): NodeType | 'link' | undefined {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case undefined:
    case null:
      return 'file';
    case 'link':
    case 'symlink':
    case 'directory':
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return type;
    default:
      return undefined; // pax/gnu meta entries are consumed by tar-stream; others are skipped
  }
}

/** The metadata of one tar header, as the filesystem index keeps it. */
export function entryOf(header: Header): LayerEntry | undefined {
  const type = nodeType(header.type);
  if (!type) return undefined;
  const entry: LayerEntry = {
    path: header.name,
    type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
    size: header.size ?? 0,
  };
  if (header.linkname) entry.linkname = header.linkname;
  if (type === 'character-device' || type === 'block-device') {
    entry.devmajor = header.devmajor ?? 0;
    entry.devminor = header.devminor ?? 0;
  }
  return entry;
}

/** An entry's bytes, as tar-stream hands them out (a streamx stream: iterate it, or `Readable.from` it). */
export type EntryContent = AsyncIterable<unknown>;

/**
 * Streams a tar (after `compression`) and calls `onEntry` for each entry with its content;
 * `onEntry` must consume the content (read it, or `skip` it). Stops when `signal` aborts.
 */
export async function readTar(
  source: Readable,
  compression: Compression,
  onEntry: (header: Header, content: EntryContent) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const extractor = extract();
  const unpack = decompressor(compression);
  let input: Readable = source;
  if (unpack) {
    source.once('error', (err) => unpack.destroy(err));
    input = source.pipe(unpack);
  }
  // Fed by hand: tar-stream's streams are streamx streams, not Node streams.
  const feeding = (async () => {
    let bytes = 0;
    for await (const chunk of input) {
      signal?.throwIfAborted();
      bytes += (chunk as Buffer).length;
      if (!extractor.write(chunk as Buffer)) await drained(extractor);
    }
    // Some writers (umoci's `insert`, for one) end a layer right after the last file's bytes,
    // without its padding or the end-of-archive blocks; Go's reader and container runtimes take
    // that, tar-stream does not. Complete the last block as they would read it.
    const padding = (512 - (bytes % 512)) % 512;
    if (padding > 0 && !extractor.write(Buffer.alloc(padding))) await drained(extractor);
    extractor.end(null); // streamx: end(null) ends without writing
  })();
  const consuming = (async () => {
    for await (const entry of extractor) {
      signal?.throwIfAborted();
      await onEntry(entry.header, entry);
    }
  })();
  try {
    await Promise.all([feeding, consuming]);
  } catch (err) {
    source.destroy();
    unpack?.destroy();
    // With the error: destroyed without one, the extractor's iterator never ends, and the
    // consumer waiting for the next entry would wait forever (an archive cut short did that).
    extractor.destroy(err as Error);
    await Promise.allSettled([feeding, consuming]);
    throw signal?.aborted ? signal.reason : err;
  }
}

/** Waits until the extractor takes more input (or is gone). */
async function drained(extractor: ReturnType<typeof extract>): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      extractor.off('drain', done);
      extractor.off('close', done);
      resolve();
    };
    extractor.on('drain', done);
    extractor.on('close', done);
  });
  if (extractor.destroyed) throw new ArchiveError('tar reading stopped');
}

/** Drains an entry's content. */
export async function skip(content: EntryContent): Promise<void> {
  for await (const _chunk of content) {
    // discard
  }
}

/** An entry's content as a Node stream (for `pipeline`). */
export function nodeStream(content: EntryContent): Readable {
  return Readable.from(content, { objectMode: false });
}
