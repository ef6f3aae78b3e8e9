/**
 * Small files the filesystem driver has read (links, manifests, records), each kept with the
 * stat it had, and served again once a fresh stat shows the file unchanged: one system call
 * where reading costs three (open, read, close). On a paravirtualised VM every system call is
 * dear, and a manifest GET reads two links.
 *
 * It stays correct across processes (workers, replicas on one disk) because the caller stats
 * before every read, on every request, and an entry is trusted only when:
 * - its stat was taken before its bytes were read, so the bytes are never older than the stat;
 * - the file's ctime was at least STABLE_MS older than that stat. Any later version of the file
 *   (putContent's rename over it, a writer appending to it) is made after the stat, so its ctime
 *   is later than the entry's: it cannot match the entry's inode, size, mtime and ctime, even
 *   when an inode number is reused or file timestamps are coarse (a clock tick, a few ms).
 * A file changed less than STABLE_MS ago is read afresh every time until it settles.
 */
import type { Stats } from 'node:fs';

/** Longer than any file-timestamp granularity (jiffies: at most 10 ms). */
const STABLE_MS = 1000;

interface Entry {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  bytes: Buffer;
}

export class SmallFileCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A copy of the bytes read when the file had `stats`, if it still has them. */
  get(path: string, stats: Stats): Buffer | undefined {
    const entry = this.entries.get(path);
    if (!entry) return undefined;
    if (entry.ino !== stats.ino || entry.size !== stats.size || entry.mtimeMs !== stats.mtimeMs || entry.ctimeMs !== stats.ctimeMs) {
      this.entries.delete(path);
      return undefined;
    }
    return Buffer.from(entry.bytes);
  }

  /** Keeps `bytes`, read after `stats` was taken, unless the file changed too recently to tell. */
  set(path: string, stats: Stats, bytes: Buffer): void {
    if (stats.ctimeMs > this.now() - STABLE_MS) return;
    this.entries.delete(path);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(path, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, bytes: Buffer.from(bytes) });
  }

  /** Forgets a path (it is gone). */
  delete(path: string): void {
    this.entries.delete(path);
  }
}
