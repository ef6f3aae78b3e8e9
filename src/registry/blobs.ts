/**
 * Blobs: bytes stored once under /blobs, readable in a repository only through its link there.
 */
import type { Readable } from 'node:stream';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import * as layout from './layout.js';
import type { ChangeObserver, ChangeOrigin } from './observer.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

export function blobUnknown(digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { detail: { digest } });
}

/** Reads a link file, or undefined when there is none (or it does not hold `expected`). */
export async function readLink(driver: StorageDriver, path: string, expected?: string): Promise<string | undefined> {
  try {
    const target = (await driver.getContent(path)).toString('utf8').trim();
    if (expected !== undefined && target !== expected) return undefined;
    return target;
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}

export async function deleteIfPresent(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.delete(path);
    return true;
  } catch (err) {
    if (err instanceof PathNotFoundError) return false;
    throw err;
  }
}

export class BlobStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly observer?: ChangeObserver,
  ) {}

  /** Size of the stored bytes of `digest`, or undefined when no such blob is stored at all. */
  async storedSize(digest: string): Promise<number | undefined> {
    try {
      return (await this.driver.stat(layout.blobData(digest))).size;
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  async isLinked(name: string, digest: string): Promise<boolean> {
    return (await readLink(this.driver, layout.layerLink(name, digest), digest)) !== undefined;
  }

  /** Whether `name` links the blob and its bytes are stored. */
  async has(name: string, digest: string): Promise<boolean> {
    return (await this.isLinked(name, digest)) && (await this.storedSize(digest)) !== undefined;
  }

  /** The blob as `name` sees it; BLOB_UNKNOWN when it is not linked there. */
  async stat(name: string, digest: string): Promise<BlobInfo> {
    parseDigest(digest);
    if (!(await this.isLinked(name, digest))) throw blobUnknown(digest);
    const size = await this.storedSize(digest);
    if (size === undefined) throw blobUnknown(digest);
    return { digest, size };
  }

  /** Streams a blob (already checked with `stat`) from `offset` to its end. */
  async read(digest: string, offset = 0): Promise<Readable> {
    try {
      return await this.driver.reader(layout.blobData(digest), offset);
    } catch (err) {
      if (err instanceof PathNotFoundError) throw blobUnknown(digest);
      throw err;
    }
  }

  /** A URL the driver can hand to the client for a direct download, when it has one. */
  async redirectURL(digest: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.driver.redirectURL?.(layout.blobData(digest), method);
  }

  async link(name: string, digest: string): Promise<void> {
    await this.driver.putContent(layout.layerLink(name, digest), Buffer.from(digest));
  }

  /** Removes the blob from `name` (its bytes stay until garbage collection). */
  async unlink(name: string, digest: string, origin?: ChangeOrigin): Promise<void> {
    parseDigest(digest);
    if (!(await this.isLinked(name, digest))) throw blobUnknown(digest);
    await this.driver.delete(layout.layerLink(name, digest));
    await this.observer?.({ kind: 'blob-deleted', repository: name, digest }, origin);
  }

  /** Links into `name` a blob that `from` holds; false when `from` does not hold it. */
  async mount(name: string, digest: string, from: string): Promise<BlobInfo | undefined> {
    if (!(await this.isLinked(from, digest))) return undefined;
    const size = await this.storedSize(digest);
    if (size === undefined) return undefined;
    await this.link(name, digest);
    return { digest, size };
  }
}
