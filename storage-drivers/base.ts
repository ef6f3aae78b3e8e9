/**
 * The one wrapper every driver goes through: it checks every path (no escape from the root, no
 * `.`/`..`, no NUL or other odd characters) and offsets before the driver sees them, and stamps
 * the driver's name on every error, wrapping unexpected ones as StorageUnavailableError.
 */
import type { Readable } from 'node:stream';
import {
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  InvalidPathError,
  type StorageDriver,
  StorageError,
  StorageUnavailableError,
} from './driver.js';

const PATH = /^(\/[A-Za-z0-9._-]+)+$/;

export function isValidPath(path: string): boolean {
  return PATH.test(path) && !path.split('/').some((part) => part === '.' || part === '..');
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || !isValidPath(path)) throw new InvalidPathError(String(path));
}

export class CheckedDriver implements StorageDriver {
  readonly name: string;
  readonly minChunkSize: number;

  constructor(private readonly inner: StorageDriver) {
    this.name = inner.name;
    this.minChunkSize = inner.minChunkSize ?? 0;
    const redirect = inner.redirectURL?.bind(inner);
    if (redirect) this.redirectURL = (path, method) => this.run(path, () => redirect(path, method));
    const exposed = inner.exposed?.bind(inner);
    if (exposed) this.exposed = (path) => this.run(path, () => exposed(path));
  }

  readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  readonly exposed?: (path: string) => Promise<string | undefined>;

  getContent(path: string): Promise<Buffer> {
    return this.run(path, () => this.inner.getContent(path));
  }

  putContent(path: string, data: Uint8Array): Promise<void> {
    return this.run(path, () => this.inner.putContent(path, data));
  }

  putContentIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    return this.run(path, () => this.inner.putContentIfAbsent(path, data));
  }

  reader(path: string, offset = 0): Promise<Readable> {
    return this.run(path, () => {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, offset);
      return this.inner.reader(path, offset);
    });
  }

  writer(path: string, append: boolean): Promise<FileWriter> {
    return this.run(path, async () => this.wrapWriter(await this.inner.writer(path, append)));
  }

  stat(path: string): Promise<FileInfo> {
    return this.run(path, () => this.inner.stat(path));
  }

  list(path: string): Promise<string[]> {
    // The root is the one directory that may be listed by "/".
    if (path === '/') return this.run('/', () => this.inner.list(path), false);
    return this.run(path, () => this.inner.list(path));
  }

  move(from: string, to: string): Promise<void> {
    return this.run(from, () => {
      checkPath(to);
      return this.inner.move(from, to);
    });
  }

  delete(path: string): Promise<void> {
    return this.run(path, () => this.inner.delete(path));
  }

  private async run<T>(path: string, op: () => Promise<T>, check = true): Promise<T> {
    try {
      if (check) checkPath(path);
      return await op();
    } catch (err) {
      throw this.stamp(err);
    }
  }

  private stamp(err: unknown): StorageError {
    const typed =
      err instanceof StorageError
        ? err
        : new StorageUnavailableError(`${this.name} storage failed: ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
          });
    typed.driver = this.name;
    return typed;
  }

  private wrapWriter(writer: FileWriter): FileWriter {
    for (const method of ['commit', 'close', 'cancel'] as const) {
      const original = writer[method].bind(writer);
      Object.defineProperty(writer, method, {
        value: async () => {
          try {
            await original();
          } catch (err) {
            throw this.stamp(err);
          }
        },
      });
    }
    return writer;
  }
}
