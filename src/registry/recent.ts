/**
 * Repositories sorted by last push (newest first), for the console's front page and
 * `/api/repositories?sort=pushed`: an in-memory index of every repository's tag count and last
 * push, because sorting by push time means knowing it for every repository, and reading that from
 * storage costs a listing and a stat per tag (seconds at 10,000 repositories, more on S3).
 *
 * Storage stays the source of truth (DESIGN: an index is a cache rebuilt from the links); the
 * index is never written anywhere, so replicas cannot disagree about it on disk. How fresh it is:
 * - changes made through this process (pushes, tag and manifest deletes: the registry tells
 *   `changed`) are read again before the next answer: exact;
 * - changes made by other replicas or by commands on the storage (`berth rm`, gc) show after the
 *   next full scan, which starts when an answer finds the last one older than `refreshMs`
 *   (that answer is still served from the previous scan): at most `refreshMs` plus one scan
 *   (plus the time until somebody asks) behind.
 * The first answer waits for the first scan; `warm()` starts it when the server starts.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { listRepositories } from './catalog.js';
import type { Inventory } from './inventory.js';

export interface RecentEntry {
  name: string;
  tags: number;
  /** ISO 8601; undefined for a repository without tags (they sort last). */
  lastPush?: string;
}

/** Repositories read at once during a scan. */
const SCAN_CONCURRENCY = 16;

/** Newest push first, then by name; repositories without tags last. */
export function comparePushed(a: RecentEntry, b: RecentEntry): number {
  if (a.lastPush !== b.lastPush) {
    if (a.lastPush === undefined) return 1;
    if (b.lastPush === undefined) return -1;
    return a.lastPush < b.lastPush ? 1 : -1;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export class RecentRepositories {
  private entries = new Map<string, RecentEntry>();
  private sorted?: RecentEntry[];
  private scannedAt = 0;
  private scanning?: Promise<void>;
  /** Changed here since they were last read. */
  private readonly dirty = new Set<string>();
  /** Changed while a scan runs: the scan may have read them before the change. */
  private readonly changedDuringScan = new Set<string>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly inventory: Inventory,
    private readonly log: Logger,
    /** How old the last full scan may be before an answer starts the next. */
    public refreshMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A repository changed through this process: read it again before the next answer. */
  changed(name: string): void {
    this.dirty.add(name);
    if (this.scanning) this.changedDuringScan.add(name);
  }

  /** Starts the first scan (server start), so the first visitor need not wait for it. */
  warm(): void {
    if (this.scannedAt === 0) this.scan().catch((err: unknown) => this.log.warn({ err }, 'could not read the repositories for the index'));
  }

  /** Every repository, newest push first. The array is shared: do not change it. */
  async list(): Promise<readonly RecentEntry[]> {
    if (this.scannedAt === 0) await this.scan();
    else if (this.now() - this.scannedAt > this.refreshMs && !this.scanning) {
      this.scan().catch((err: unknown) => this.log.warn({ err }, 'could not read the repositories again for the index'));
    }
    if (this.dirty.size > 0) await this.readDirty();
    this.sorted ??= [...this.entries.values()].sort(comparePushed);
    return this.sorted;
  }

  private async readDirty(): Promise<void> {
    const names = [...this.dirty];
    this.dirty.clear();
    const read = await Promise.all(names.map((name) => this.read(name)));
    names.forEach((name, i) => this.put(name, read[i]));
  }

  private put(name: string, entry: RecentEntry | undefined): void {
    if (entry) this.entries.set(name, entry);
    else this.entries.delete(name);
    this.sorted = undefined;
  }

  /** A repository's entry from storage; undefined when it no longer exists. */
  private async read(name: string): Promise<RecentEntry | undefined> {
    const { tags, lastPush } = await this.inventory.pushes(name);
    if (tags === 0 && !(await this.inventory.exists(name))) return undefined;
    return { name, tags, ...(lastPush ? { lastPush } : {}) };
  }

  /** Reads every repository (single flight: callers during a scan share it). */
  private scan(): Promise<void> {
    this.scanning ??= (async () => {
      try {
        const started = this.now();
        const names = await listRepositories(this.driver);
        const entries = new Map<string, RecentEntry>();
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < names.length) {
            const name = names[next++]!;
            const entry = await this.read(name);
            if (entry) entries.set(name, entry);
          }
        };
        await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, worker));
        this.entries = entries;
        this.sorted = undefined;
        this.scannedAt = started;
        for (const name of this.changedDuringScan) this.dirty.add(name);
      } finally {
        this.changedDuringScan.clear();
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }
}
