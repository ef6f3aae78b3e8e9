/**
 * Unpacks a repository tarball (gzip + tar, as GitHub serves it) into a fresh folder, refusing
 * anything that could reach outside it:
 * - GitHub's top-level folder (`owner-repo-sha/`) is stripped; every entry must be inside it;
 * - absolute names and `..` components are refused;
 * - nothing is written through a symlink (an entry whose parent is a symlink is refused), and
 *   files are created with O_EXCL|O_NOFOLLOW, so a name never lands anywhere but where it says;
 * - symlinks must resolve inside the folder, checked once every entry is known (a later link
 *   can change where an earlier one points), following the links found in the archive;
 * - hardlinks may only point at regular files unpacked before them;
 * - devices and FIFOs are refused; modes are reduced to 0644/0755 (no setuid, no sticky);
 * - limits on the bytes and the number of entries (every folder created counts, whether or not
 *   the archive has an entry for it: one deep file name makes up to 256 folders), on the bytes of
 *   all the paths kept to check names against, and on the decompressed stream as a whole (a gzip
 *   bomb stops at the limit, not at the disk's end).
 * Memory stays bounded: the archive streams through, one entry at a time, and the paths kept are
 * bounded by maxPathBytes.
 */
import { constants } from 'node:fs';
import { link, mkdir, open, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

export interface ExtractLimits {
  /** Bytes of file content. */
  maxBytes: number;
  /** Entries (files, folders, links), counting every folder created. */
  maxFiles: number;
  /** Bytes of all the paths unpacked, added up (folders included); default 16 MiB. */
  maxPathBytes?: number;
}

export const DEFAULT_MAX_PATH_BYTES = 16 * 1024 * 1024;

export interface ExtractResult {
  files: number;
  bytes: number;
}

/** The source cannot be used: hostile, malformed or over a limit. The message says why. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

const MAX_NAME = 4096;
const MAX_DEPTH = 256;
const MAX_LINK_HOPS = 40;
/** An entry of tar-stream's extractor (its types name it only through the iterator). */
type TarEntry = tar.Extract extends AsyncIterable<infer T> ? T : never;

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Fails once more than `limit` bytes passed. */
function byteLimit(limit: number, what: string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > limit) callback(new SourceError(`${what} is larger than ${limit} bytes`));
      else callback(null, chunk);
    },
  });
}

/**
 * Where a symlink ends up, following the links of the archive; undefined when it escapes the
 * root (or loops). Paths are relative to the root, `/`-separated.
 */
export function resolveLink(path: string, links: ReadonlyMap<string, string>): string | undefined {
  const resolved: string[] = [];
  let pending = path.split('/');
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) return undefined;
      resolved.pop();
      continue;
    }
    resolved.push(part);
    const target = links.get(resolved.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS || target.startsWith('/')) return undefined;
    resolved.pop();
    pending = [...target.split('/'), ...pending];
  }
  return resolved.join('/');
}

class Unpacker {
  private top: string | undefined;
  private readonly links = new Map<string, string>();
  /** Regular files and links written (a folder's name must not be one of them). */
  private readonly nonDirs = new Set<string>();
  private readonly dirs = new Set<string>(['']);
  private readonly files = new Set<string>();
  private entries = 0;
  private bytes = 0;
  private pathBytes = 0;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
  ) {}

  result(): ExtractResult {
    return { files: this.entries, bytes: this.bytes };
  }

  /** The entry's path inside the root, or undefined for the top-level folder itself. */
  private relative(name: string): string | undefined {
    if (name.includes('\0')) throw new SourceError('entry name with a NUL byte');
    if (name.length > MAX_NAME) throw new SourceError(`entry name longer than ${MAX_NAME} characters`);
    if (name.startsWith('/')) throw new SourceError(`entry ${JSON.stringify(name)}: absolute path`);
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new SourceError(`entry ${JSON.stringify(name)}: .. in path`);
    const [top, ...rest] = parts;
    if (top === undefined) throw new SourceError('entry with an empty name');
    this.top ??= top;
    if (top !== this.top) throw new SourceError(`entry ${JSON.stringify(name)}: outside the top-level folder ${this.top}/`);
    if (rest.length > MAX_DEPTH) throw new SourceError(`entry ${JSON.stringify(name)}: nested deeper than ${MAX_DEPTH}`);
    return rest.length === 0 ? undefined : rest.join('/');
  }

  /** Refuses a path whose parents include a symlink or a file, or that exists already. */
  private checkPlace(rel: string, kind: 'dir' | 'other'): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.links.has(parent)) throw new SourceError(`entry ${JSON.stringify(rel)}: inside a symlink (${parent})`);
      if (this.nonDirs.has(parent)) throw new SourceError(`entry ${JSON.stringify(rel)}: inside a file (${parent})`);
    }
    if (this.nonDirs.has(rel) || (kind === 'other' && this.dirs.has(rel))) throw new SourceError(`entry ${JSON.stringify(rel)}: appears twice`);
  }

  /** Counts one entry (a file, link or folder, `rel`) with its content bytes and its path's bytes. */
  private count(size: number, rel: string): void {
    this.pathBytes += rel.length;
    const maxPathBytes = this.limits.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
    if (this.pathBytes > maxPathBytes) throw new SourceError(`the paths in the archive are longer than ${maxPathBytes} bytes together (builds.source.maxPathBytes)`);
    this.entries += 1;
    if (this.entries > this.limits.maxFiles) throw new SourceError(`more than ${this.limits.maxFiles} entries (builds.source.maxFiles)`);
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) throw new SourceError(`more than ${this.limits.maxBytes} bytes of files, at ${JSON.stringify(rel)} (builds.source.maxBytes)`);
  }

  /** Makes `rel` and its missing parents, each counted as an entry before anything is made. */
  private async makeDir(rel: string): Promise<void> {
    if (this.dirs.has(rel)) return;
    const parts = rel.split('/');
    const made: string[] = [];
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.dirs.has(prefix)) continue;
      this.count(0, prefix);
      made.push(prefix);
    }
    // Top down, one level each: a recursive mkdir of a deep path retries from the bottom up.
    for (const prefix of made) {
      await mkdir(join(this.root, prefix), { mode: 0o755 });
      this.dirs.add(prefix);
    }
  }

  async entry(entry: TarEntry): Promise<void> {
    const header = entry.header;
    // tar-stream consumes pax headers itself (GitHub's pax_global_header too); older versions
    // passed them on, so they are skipped here all the same.
    const type: string = header.type ?? 'file';
    if (type === 'pax-global-header' || type === 'pax-header') {
      entry.resume();
      return;
    }
    const rel = this.relative(header.name);
    if (rel === undefined) {
      if (type !== 'directory') throw new SourceError(`entry ${JSON.stringify(header.name)}: the top level must be a folder`);
      entry.resume();
      return;
    }
    switch (type) {
      case 'directory':
        this.checkPlace(rel, 'dir');
        await this.makeDir(rel);
        entry.resume();
        return;
      case 'file':
      case 'contiguous-file': {
        this.checkPlace(rel, 'other');
        this.count(header.size ?? 0, rel);
        await this.makeDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
        const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
        const handle = await open(join(this.root, rel), WRITE_FLAGS, mode);
        this.nonDirs.add(rel);
        this.files.add(rel);
        // The write stream owns the handle from here and closes it, also on failure. The entry is
        // read through Readable.from: piped directly, an entry that tar-stream destroyed meanwhile
        // (the archive ended early) left the pipeline waiting forever.
        await pipeline(Readable.from(entry, { objectMode: false }), handle.createWriteStream());
        return;
      }
      case 'symlink': {
        this.checkPlace(rel, 'other');
        this.count(0, rel);
        const target = header.linkname ?? '';
        if (target === '' || target.includes('\0')) throw new SourceError(`symlink ${JSON.stringify(rel)}: empty target`);
        if (target.startsWith('/')) throw new SourceError(`symlink ${JSON.stringify(rel)} -> ${JSON.stringify(target)}: absolute target`);
        await this.makeDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
        await symlink(target, join(this.root, rel));
        this.links.set(rel, target);
        this.nonDirs.add(rel);
        entry.resume();
        return;
      }
      case 'link': {
        this.checkPlace(rel, 'other');
        this.count(0, rel);
        const target = this.relative(header.linkname ?? '');
        if (target === undefined || !this.files.has(target)) {
          throw new SourceError(`hardlink ${JSON.stringify(rel)} -> ${JSON.stringify(header.linkname)}: must point at a file unpacked before it`);
        }
        await this.makeDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
        await link(join(this.root, target), join(this.root, rel));
        this.nonDirs.add(rel);
        this.files.add(rel);
        entry.resume();
        return;
      }
      default:
        throw new SourceError(`entry ${JSON.stringify(rel)}: ${type} entries are not allowed`);
    }
  }

  /** Once every entry is known: each symlink must end inside the root. */
  checkLinks(): void {
    for (const [rel, target] of this.links) {
      if (resolveLink(rel, this.links) === undefined) {
        throw new SourceError(`symlink ${JSON.stringify(rel)} -> ${JSON.stringify(target)}: points outside the source (or loops)`);
      }
    }
  }
}

/** Whether an error of gunzip or tar-stream says the archive is damaged (not our fault, not an I/O failure). */
function isDamage(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || (err instanceof Error && /tar|header|unexpected end/i.test(err.message));
}

/**
 * Unpacks the gzipped tar `input` into `root` (an empty folder). On failure the caller removes
 * `root`: what was written is all inside it.
 */
export async function extractTarball(input: Readable, root: string, limits: ExtractLimits, signal?: AbortSignal): Promise<ExtractResult> {
  const unpacker = new Unpacker(root, limits);
  const extract = tar.extract();
  // Headers, padding and pax records on top of the file bytes: generous, still bounded.
  const streamLimit = limits.maxBytes + (limits.maxFiles + 16) * 4096 + 1024 * 1024;
  // tar-stream's streams are streamx streams; node's pipeline drives them (as its README shows).
  const feeding = pipeline(input, createGunzip(), byteLimit(streamLimit, 'the unpacked archive'), extract as unknown as NodeJS.WritableStream, { signal });
  feeding.catch(() => {}); // awaited below; keeps an early failure from being unhandled meanwhile
  try {
    for await (const entry of extract) await unpacker.entry(entry);
    await feeding;
  } catch (err) {
    input.destroy();
    extract.destroy();
    const fedError = await feeding.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (err instanceof SourceError) throw err;
    // A damaged archive shows as the entry's stream destroyed under it: the cause is the feed's error.
    for (const cause of [err, fedError]) {
      if (isDamage(cause)) throw new SourceError(`not a valid gzipped tar archive: ${(cause as Error).message}`);
    }
    throw err;
  }
  unpacker.checkLinks();
  return unpacker.result();
}

