/**
 * The in-memory driver: for tests and throwaway registries. Everything is lost on exit.
 * Folders are implicit, as on S3: a folder exists while some file lies below it.
 */
import { Readable, Writable } from 'node:stream';
import { CheckedDriver } from './base.js';
import {
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
} from './driver.js';

interface Entry {
  chunks: Buffer[];
  size: number;
  modified: Date;
}

function contentOf(entry: Entry): Buffer {
  if (entry.chunks.length > 1) entry.chunks = [Buffer.concat(entry.chunks)];
  return entry.chunks[0] ?? Buffer.alloc(0);
}

export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  private readonly files = new Map<string, Entry>();

  async getContent(path: string): Promise<Buffer> {
    return Buffer.from(contentOf(this.file(path)));
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    this.files.set(path, { chunks: [Buffer.from(data)], size: data.length, modified: new Date() });
  }

  async putContentIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    if (this.files.has(path) || this.isDirectory(path)) return false;
    await this.putContent(path, data);
    return true;
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const entry = this.file(path);
    if (offset > entry.size) throw new InvalidOffsetError(path, offset);
    return Readable.from([contentOf(entry).subarray(offset)], { objectMode: false });
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    let entry: Entry;
    if (append) {
      entry = this.file(path);
    } else {
      entry = { chunks: [], size: 0, modified: new Date() };
      this.files.set(path, entry);
    }
    return new MemoryWriter(entry, () => {
      if (this.files.get(path) === entry) this.files.delete(path);
    });
  }

  async stat(path: string): Promise<FileInfo> {
    const entry = this.files.get(path);
    if (entry) return { path, size: entry.size, modified: entry.modified, isDirectory: false };
    if (this.isDirectory(path)) return { path, size: 0, modified: new Date(), isDirectory: true };
    throw new PathNotFoundError(path);
  }

  async list(path: string): Promise<string[]> {
    const prefix = path === '/' ? '/' : `${path}/`;
    const children = new Set<string>();
    for (const key of this.files.keys()) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length).split('/')[0];
      if (name) children.add(prefix + name);
    }
    if (children.size === 0 && path !== '/') throw new PathNotFoundError(path);
    return [...children].sort();
  }

  async move(from: string, to: string): Promise<void> {
    const entry = this.file(from);
    this.files.delete(from);
    this.files.set(to, entry);
  }

  async delete(path: string): Promise<void> {
    let found = this.files.delete(path);
    for (const key of [...this.files.keys()]) {
      if (key.startsWith(`${path}/`)) found = this.files.delete(key) || found;
    }
    if (!found) throw new PathNotFoundError(path);
  }

  private file(path: string): Entry {
    const entry = this.files.get(path);
    if (!entry) throw new PathNotFoundError(path);
    return entry;
  }

  private isDirectory(path: string): boolean {
    for (const key of this.files.keys()) if (key.startsWith(`${path}/`)) return true;
    return false;
  }
}

class MemoryWriter extends Writable implements FileWriter {
  private done = false;

  constructor(
    private readonly entry: Entry,
    private readonly remove: () => void,
  ) {
    super();
  }

  get size(): number {
    return this.entry.size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.entry.chunks.push(Buffer.from(chunk));
    this.entry.size += chunk.length;
    this.entry.modified = new Date();
    callback();
  }

  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (!this.writableFinished) throw new Error('commit before the written stream finished');
  }

  async close(): Promise<void> {
    this.done = true;
  }

  async cancel(): Promise<void> {
    this.done = true;
    this.remove();
  }
}

export function createMemoryDriver(): StorageDriver {
  return new CheckedDriver(new MemoryDriver());
}
