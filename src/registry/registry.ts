/**
 * The registry: the OCI domain over one storage driver. The HTTP layer calls this and nothing
 * below it; this knows nothing of HTTP.
 */
import type { Logger } from 'pino';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { type BlobInfo, BlobStore } from './blobs.js';
import { listRepositories } from './catalog.js';
import { ManifestDetailsReader } from './details.js';
import { parseDigest } from './digest.js';
import { Inventory } from './inventory.js';
import * as layout from './layout.js';
import { type ManifestLimits, ManifestStore } from './manifests.js';
import type { ChangeObserver } from './observer.js';
import { RecentRepositories } from './recent.js';
import { type UploadLimits, Uploads } from './uploads.js';

export type RegistryLimits = ManifestLimits & UploadLimits;

/** Who watches the registry, without the registry knowing who: src/events and src/metrics. */
export interface RegistryWatchers {
  /** Told of every push and delete once it is in storage (src/registry/observer.ts). */
  changes?: ChangeObserver;
  /** Blob bytes an upload request delivered (counted whether or not the upload then succeeds). */
  bytesReceived?(bytes: number): void;
}

/** Whether the caller may read a repository; undefined in a predicate's place means any. */
export type CanRead = (name: string) => Promise<boolean> | boolean;

export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: Uploads;
  readonly manifests: ManifestStore;
  /** Tags with details, repository sizes and storage use, for people (the CLI, the console). */
  readonly inventory: Inventory;
  /** Repositories by last push (the console's front page), told of every change made here. */
  readonly recent: RecentRepositories;
  /** One manifest as people look at it: layers, config, history, platforms, referrers. */
  readonly details: ManifestDetailsReader;

  constructor(
    readonly driver: StorageDriver,
    limits: RegistryLimits,
    log: Logger,
    /** Who watches it: src/events (every push and delete) and src/metrics (bytes received). */
    watchers: RegistryWatchers = {},
  ) {
    this.inventory = new Inventory(driver);
    this.recent = new RecentRepositories(driver, this.inventory, log);
    const changes: ChangeObserver = async (change, origin) => {
      this.recent.changed(change.repository);
      await watchers.changes?.(change, origin);
    };
    this.blobs = new BlobStore(driver, changes);
    this.uploads = new Uploads(driver, this.blobs, limits, log, watchers);
    this.manifests = new ManifestStore(driver, this.blobs, limits, changes);
    this.details = new ManifestDetailsReader(driver, this.manifests, this.inventory);
  }

  /** Whether `name` exists here (anything stored under it: links, tags, uploads). */
  async hasRepository(name: string): Promise<boolean> {
    try {
      return (await this.driver.stat(layout.repository(name))).isDirectory;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  }

  /** Every repository name, sorted, optionally only those the caller may read. */
  async catalog(canRead?: CanRead): Promise<string[]> {
    const names = await listRepositories(this.driver);
    if (!canRead) return names;
    const readable = await Promise.all(names.map((name) => canRead(name)));
    return names.filter((_, i) => readable[i]);
  }

  /**
   * Mounts a blob into `name` from any repository the caller may read (a mount without `from`).
   * When the caller may read everything, the stored bytes are enough.
   */
  async mountFromAny(name: string, digest: string, canRead?: CanRead): Promise<BlobInfo | undefined> {
    parseDigest(digest);
    const size = await this.blobs.storedSize(digest);
    if (size === undefined) return undefined;
    if (!canRead) {
      await this.blobs.link(name, digest);
      return { digest, size };
    }
    for (const source of await this.catalog(canRead)) {
      if (source !== name && (await this.blobs.isLinked(source, digest))) return this.blobs.mount(name, digest, source);
    }
    return undefined;
  }
}
