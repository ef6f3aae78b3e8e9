/**
 * Writing one image layer: a tar (tar-stream) of the given entries, gzip-compressed (node:zlib),
 * streamed to a temporary file while both digests are computed on the way: the uncompressed
 * `diff_id` before gzip and the blob digest after it. The caller then streams the file into the
 * registry with `putWhole`, which checks the digest again.
 *
 * Why a temporary file rather than two passes (hash, then compress again while uploading): the
 * blob digest must be known before the upload starts, so a single pass needs somewhere to put the
 * compressed bytes; disk is cheap, memory stays bounded, and the CPU cost of gzip is paid once.
 *
 * Reproducible output: entries sorted by path (parents first), one fixed mtime, no user or group
 * names, gzip level 6 with no name or time in its header and the OS byte forced to Unix (zlib
 * writes the platform it was built for).
 */
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Header, pack as tarPack } from 'tar-stream';
import { HashingStream } from '../../registry/digest.js';
import type { FsNode } from './fs-tree.js';

export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const GZIP_LEVEL = 6;

/** One entry of a layer: its path in the image (relative, no leading `/`) and what it is. */
export interface LayerItem {
  path: string;
  node: FsNode;
}

export interface WrittenLayer {
  /** The temporary file holding the compressed layer. */
  file: string;
  /** sha256 of the compressed bytes: the blob's digest. */
  digest: string;
  /** Compressed size. */
  size: number;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
  /** Uncompressed tar size. */
  tarSize: number;
  entries: number;
}

/** A file this build reads changed between being listed and being read. */
export class ContextChangedError extends Error {
  constructor(path: string) {
    super(`${path} changed while the build was reading it`);
    this.name = 'ContextChangedError';
  }
}

const TYPE_BITS: Record<FsNode['type'], number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  'character-device': 0o020000,
  'block-device': 0o060000,
  fifo: 0o010000,
};

/** Orders entries as the layer holds them: by path, so every folder comes before its contents. */
export function compareLayerPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function headerOf(item: LayerItem, mtime: Date): Header {
  const { node } = item;
  const header: Header = {
    name: node.type === 'directory' ? `${item.path}/` : item.path,
    type: node.type,
    // tar-stream replaces a zero mode with its default: the type bits keep it non-zero and are
    // masked off when encoded.
    mode: TYPE_BITS[node.type] | (node.mode & 0o7777),
    uid: node.uid,
    gid: node.gid,
    uname: '',
    gname: '',
    mtime,
    size: node.type === 'file' ? node.size : 0,
    linkname: node.type === 'symlink' ? (node.linkname ?? '') : '',
    devmajor: node.devmajor ?? 0,
    devminor: node.devminor ?? 0,
  };
  return header;
}

/** Opens a file's bytes; a build-context file without following symlinks, checked to be unchanged. */
export async function openContent(item: LayerItem): Promise<Readable> {
  const content = item.node.content;
  if (!content?.disk) throw new Error(`internal: no bytes on disk for /${item.path}`);
  if (!content.fromContext) return createReadStream(content.disk);
  const handle = await open(content.disk, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP' || err.code === 'ENOENT') throw new ContextChangedError(content.disk!);
    throw err;
  });
  const stat = await handle.stat();
  if (!stat.isFile() || stat.size !== item.node.size) {
    await handle.close();
    throw new ContextChangedError(content.disk);
  }
  return handle.createReadStream();
}

/** Rewrites the gzip header's OS byte (the 10th) to 3, Unix, whatever platform zlib was built for. */
class GzipOsByte extends Transform {
  private seen = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 3;
    }
    this.seen += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Writes `items` (any order; sorted here) as a gzip tar layer to `file`. Every entry gets `mtime`
 * (seconds). File entries must have their bytes on disk (`content.disk`).
 */
export async function writeLayer(items: LayerItem[], file: string, mtime: number, signal?: AbortSignal): Promise<WrittenLayer> {
  const sorted = [...items].sort((a, b) => compareLayerPaths(a.path, b.path));
  const date = new Date(mtime * 1000);
  const pack = tarPack();
  const tarHash = new HashingStream(createHash('sha256'));
  const blobHash = new HashingStream(createHash('sha256'));
  const stop = new AbortController();
  const writing = pipeline(Readable.from(pack), tarHash, createGzip({ level: GZIP_LEVEL }), new GzipOsByte(), blobHash, createWriteStream(file), { signal });
  writing.catch(() => stop.abort());

  const feeding = (async () => {
    for (const item of sorted) {
      signal?.throwIfAborted();
      const header = headerOf(item, date);
      let sink!: ReturnType<typeof pack.entry>;
      const done = new Promise<void>((ok, fail) => {
        sink = pack.entry(header, (err) => (err ? fail(err) : ok()));
      });
      if (item.node.type === 'file') {
        const source = await openContent(item);
        try {
          for await (const chunk of source) {
            if (!sink.write(chunk as Buffer)) await once(sink as unknown as NodeJS.EventEmitter, 'drain', { signal: stop.signal });
          }
        } finally {
          source.destroy();
        }
        sink.end(null);
      }
      await done;
    }
    pack.finalize();
  })();
  feeding.catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));

  await Promise.all([writing, feeding]);
  return {
    file,
    digest: `sha256:${blobHash.hash!.digest('hex')}`,
    size: blobHash.bytes,
    diffId: `sha256:${tarHash.hash!.digest('hex')}`,
    tarSize: tarHash.bytes,
    entries: sorted.length,
  };
}
