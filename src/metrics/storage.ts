/**
 * A storage driver wrapper that counts every operation by driver, operation and result, and
 * times it. Results: `ok`, `not_found` (an answer, not a failure: most lookups of absent paths
 * are expected), `error`.
 */
import type { Readable } from 'node:stream';
import { type FileInfo, type FileWriter, PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import type { Metrics } from './index.js';

export class MeteredDriver implements StorageDriver {
  readonly name: string;
  readonly minChunkSize: number;
  readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  /** Passed through (not an operation worth counting): the start-up check of secret files needs it. */
  readonly exposed?: (path: string) => Promise<string | undefined>;

  constructor(
    private readonly inner: StorageDriver,
    private readonly metrics: Metrics,
  ) {
    this.name = inner.name;
    this.minChunkSize = inner.minChunkSize ?? 0;
    const redirect = inner.redirectURL?.bind(inner);
    if (redirect) this.redirectURL = (path, method) => this.measure('redirectURL', () => redirect(path, method));
    this.exposed = inner.exposed?.bind(inner);
  }

  getContent(path: string): Promise<Buffer> {
    return this.measure('getContent', () => this.inner.getContent(path));
  }

  putContent(path: string, data: Uint8Array): Promise<void> {
    return this.measure('putContent', () => this.inner.putContent(path, data));
  }

  putContentIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    return this.measure('putContentIfAbsent', () => this.inner.putContentIfAbsent(path, data));
  }

  reader(path: string, offset?: number): Promise<Readable> {
    return this.measure('reader', () => this.inner.reader(path, offset));
  }

  writer(path: string, append: boolean): Promise<FileWriter> {
    return this.measure('writer', () => this.inner.writer(path, append));
  }

  stat(path: string): Promise<FileInfo> {
    return this.measure('stat', () => this.inner.stat(path));
  }

  list(path: string): Promise<string[]> {
    return this.measure('list', () => this.inner.list(path));
  }

  move(from: string, to: string): Promise<void> {
    return this.measure('move', () => this.inner.move(from, to));
  }

  delete(path: string): Promise<void> {
    return this.measure('delete', () => this.inner.delete(path));
  }

  private async measure<T>(operation: string, op: () => Promise<T>): Promise<T> {
    const stop = this.metrics.storageDuration.startTimer({ driver: this.name, operation });
    let result = 'error';
    try {
      const value = await op();
      result = 'ok';
      return value;
    } catch (err) {
      if (err instanceof PathNotFoundError) result = 'not_found';
      throw err;
    } finally {
      stop();
      this.metrics.storageOperations.inc({ driver: this.name, operation, result });
    }
  }
}
