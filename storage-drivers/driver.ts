/**
 * The storage driver contract. A driver knows paths and bytes, nothing of OCI.
 *
 * Paths are absolute, slash-separated, and match `^(/[A-Za-z0-9._-]+)+$` with no `.` or `..`
 * component (checked once for every driver by `base.ts`). Directories are implicit: a file's
 * parents exist as long as the file does, and `list`/`stat` report them.
 */
import type { Readable, Writable } from 'node:stream';

export interface FileInfo {
  path: string;
  /** Bytes of a file; 0 for a directory. */
  size: number;
  modified: Date;
  isDirectory: boolean;
}

export interface StorageDriver {
  /** A short name for logs and errors: `filesystem`, `s3`, `memory`. */
  readonly name: string;

  /** Whole content of a small file (links, manifests, records). PathNotFoundError if missing. */
  getContent(path: string): Promise<Buffer>;

  /** Atomically replaces the file: readers see the old content or the new, never a mix. */
  putContent(path: string, data: Uint8Array): Promise<void>;

  /**
   * Writes the file only if nothing is at `path` yet; false when something was. Used for claims
   * that must happen once across replicas (a build, a webhook delivery).
   */
  putContentIfAbsent(path: string, data: Uint8Array): Promise<boolean>;

  /**
   * Streams a committed file from `offset`. PathNotFoundError if missing; InvalidOffsetError when
   * offset is negative or past the end; offset equal to the size gives an empty stream.
   */
  reader(path: string, offset?: number): Promise<Readable>;

  /**
   * Opens a writer. `append: false` starts empty (replacing whatever writer state was there);
   * `append: true` continues what earlier writers at this path wrote and then `close()`d, and
   * fails with PathNotFoundError when there is nothing to continue.
   */
  writer(path: string, append: boolean): Promise<FileWriter>;

  /** Size and kind of a file or directory. PathNotFoundError if neither exists. */
  stat(path: string): Promise<FileInfo>;

  /** Direct children (files and directories) as full paths, sorted. PathNotFoundError if none. */
  list(path: string): Promise<string[]>;

  /** Moves a committed file, replacing the destination. PathNotFoundError if `from` is missing. */
  move(from: string, to: string): Promise<void>;

  /** Deletes a file or a directory with everything below it. PathNotFoundError if missing. */
  delete(path: string): Promise<void>;

  /**
   * A URL from which a client may fetch the file directly (for example a presigned S3 URL), or
   * undefined when the driver does not redirect.
   */
  redirectURL?(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>;

  /**
   * For drivers on this host's disk: the local file behind `path` when users of the host other
   * than Berth's could read it (its mode, or a folder above it, lets them), else undefined. Berth
   * warns at start about secret files that are exposed this way.
   */
  exposed?(path: string): Promise<string | undefined>;

  /** The smallest chunk the driver handles efficiently, for `OCI-Chunk-Min-Length`; 0: none. */
  readonly minChunkSize?: number;
}

/**
 * A writer session. Bytes go in through the Writable side; after the stream has finished
 * (`end()` and the 'finish' event, or a completed `pipeline`) exactly one of these is called:
 * - `commit()`: the content is final and readable at the path;
 * - `close()`: the session ends, what was written is kept for a later `writer(path, true)`;
 * - `cancel()`: everything written at the path (in this and earlier sessions) is discarded.
 * `close()` and `cancel()` may also be called after the stream failed or was destroyed.
 * Nothing is committed by closing the stream: commit is always an explicit call.
 */
export interface FileWriter extends Writable {
  /** Bytes at the path so far: earlier sessions plus what this one has written. */
  readonly size: number;
  commit(): Promise<void>;
  close(): Promise<void>;
  cancel(): Promise<void>;
}

/** Base of every driver error; `driver` names the driver that raised it. */
export class StorageError extends Error {
  driver = '';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class PathNotFoundError extends StorageError {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
  }
}

export class InvalidPathError extends StorageError {
  constructor(readonly path: string) {
    super(`invalid path: ${JSON.stringify(path)}`);
  }
}

export class InvalidOffsetError extends StorageError {
  constructor(
    readonly path: string,
    readonly offset: number,
  ) {
    super(`invalid offset ${offset} for ${path}`);
  }
}

/** The backend failed (I/O error, S3 unreachable or answering errors). */
export class StorageUnavailableError extends StorageError {}
