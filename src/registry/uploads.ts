/**
 * Blob uploads: monolithic, chunked and streamed, resumable across requests, processes and
 * replicas. The upload's bytes and its start time live in storage (`_uploads/<uuid>/`); this
 * process keeps only a running hash as an optimisation, and re-hashes the stored bytes when it
 * has none for the upload or its byte count differs from the stored size (the upload moved on
 * elsewhere). Commit order, as in Distribution: verify -> move into place (skipped when the blob
 * is already there: content-addressed) -> link into the repository -> remove the leftovers.
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { type FileWriter, PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { type BlobInfo, type BlobStore, deleteIfPresent } from './blobs.js';
import { type Algorithm, DEFAULT_ALGORITHM, HashingStream, hashToDigest, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import * as layout from './layout.js';
import { KeyedMutex } from '../util/index.js';
import type { RegistryWatchers } from './registry.js';

export interface UploadStatus {
  uuid: string;
  /** Bytes received so far. */
  size: number;
}

/** A chunk's place as its `Content-Range` says: first and last byte, inclusive. */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface ChunkOptions {
  range?: ChunkRange;
  /** The request's Content-Length, when it gave one. */
  length?: number;
}

export interface UploadLimits {
  /** Largest blob accepted, in bytes; 0 for no limit. */
  maxBlobSize: number;
}

interface HashState {
  algorithm: Algorithm;
  hash: Hash;
  size: number;
}

/** Running hashes kept at most; the oldest are dropped first (they are re-hashed if resumed). */
const MAX_HASHES = 10_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The `Range` header value for an upload holding `size` bytes (inclusive end; `0-0` when empty). */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

function uploadUnknown(uuid: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { detail: { uuid: uuid.slice(0, 100) } });
}

export class Uploads {
  private readonly hashes = new Map<string, HashState>();
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly limits: UploadLimits,
    private readonly log: Logger,
    private readonly watchers: RegistryWatchers = {},
  ) {}

  async start(name: string): Promise<UploadStatus> {
    const uuid = randomUUID();
    await this.driver.putContent(layout.uploadStartedAt(name, uuid), Buffer.from(new Date().toISOString()));
    const writer = await this.driver.writer(layout.uploadData(name, uuid), false);
    writer.end();
    await writer.close();
    this.freshHash(uuid);
    return { uuid, size: 0 };
  }

  async status(name: string, uuid: string): Promise<UploadStatus> {
    return this.mutex.run(uuid, async () => {
      const writer = await this.open(name, uuid);
      const size = writer.size;
      writer.end();
      await writer.close();
      return { uuid, size };
    });
  }

  /** Appends one chunk (PATCH). An out-of-order chunk is refused with 416 and nothing is written. */
  async append(name: string, uuid: string, body: Readable, options: ChunkOptions = {}): Promise<UploadStatus> {
    return this.mutex.run(uuid, async () => {
      const writer = await this.open(name, uuid);
      try {
        await this.receive(uuid, writer, body, options);
      } catch (err) {
        await writer.close().catch(() => {});
        throw err;
      }
      await writer.close();
      return { uuid, size: writer.size };
    });
  }

  /** Finishes an upload (PUT ?digest=), with an optional last chunk, and stores the blob. */
  async complete(name: string, uuid: string, digest: string, body?: Readable, options: ChunkOptions = {}): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    return this.mutex.run(uuid, async () => {
      const writer = await this.open(name, uuid);
      try {
        if (body) await this.receive(uuid, writer, body, options);
        else await finished(writer.end());
        await writer.commit();
      } catch (err) {
        await writer.close().catch(() => {});
        throw err;
      }
      const data = layout.uploadData(name, uuid);
      const state = this.hashes.get(uuid);
      const computed =
        state && state.algorithm === algorithm && state.size === writer.size
          ? hashToDigest(state.hash, algorithm)
          : await this.rehash(data, algorithm, uuid);
      this.hashes.delete(uuid);
      if (computed !== digest) {
        await deleteIfPresent(this.driver, layout.upload(name, uuid));
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
          detail: { expected: digest, computed, size: writer.size },
        });
      }
      await this.store(name, uuid, digest);
      return { digest, size: writer.size };
    });
  }

  /** A whole blob in one request (POST ?digest= or a PUT straight after POST). */
  async putWhole(name: string, digest: string, body: Readable, options: ChunkOptions = {}): Promise<BlobInfo> {
    const { algorithm } = parseDigest(digest);
    const uuid = randomUUID();
    const writer = await this.driver.writer(layout.uploadData(name, uuid), false);
    const hashing = this.hashingStream(createHash(algorithm), 0);
    try {
      this.checkLength(options, 0);
      await pipeline(body, hashing, writer).finally(() => this.watchers.bytesReceived?.(hashing.bytes));
      await writer.commit();
    } catch (err) {
      await writer.cancel().catch(() => {});
      await deleteIfPresent(this.driver, layout.upload(name, uuid)).catch(() => {});
      throw err;
    }
    const computed = hashToDigest(hashing.hash!, algorithm);
    if (computed !== digest) {
      await deleteIfPresent(this.driver, layout.upload(name, uuid));
      throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
        detail: { expected: digest, computed, size: hashing.bytes },
      });
    }
    await this.store(name, uuid, digest);
    return { digest, size: hashing.bytes };
  }

  async cancel(name: string, uuid: string): Promise<void> {
    await this.mutex.run(uuid, async () => {
      const writer = await this.open(name, uuid);
      await writer.cancel();
      this.hashes.delete(uuid);
      await deleteIfPresent(this.driver, layout.upload(name, uuid));
    });
  }

  /**
   * Opens the upload's writer for appending; BLOB_UPLOAD_UNKNOWN when there is no such upload
   * (never started, finished or cancelled: its data is gone, so there is nothing to append to).
   */
  private async open(name: string, uuid: string): Promise<FileWriter> {
    if (!UUID.test(uuid)) throw uploadUnknown(uuid);
    try {
      return await this.driver.writer(layout.uploadData(name, uuid), true);
    } catch (err) {
      if (err instanceof PathNotFoundError) throw uploadUnknown(uuid);
      throw err;
    }
  }

  /** Streams one chunk into the open writer, checking its place and keeping the hash going. */
  private async receive(uuid: string, writer: FileWriter, body: Readable, options: ChunkOptions): Promise<void> {
    const size = writer.size;
    const { range } = options;
    if (range && range.start !== size) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk out of order: upload holds ${size} bytes, chunk starts at ${range.start}`, {
        status: 416,
        detail: { size, start: range.start },
        headers: { Range: uploadRange(size) },
      });
    }
    this.checkLength(options, size);
    const state = this.resumableHash(uuid, size);
    const hashing = this.hashingStream(state?.hash, size);
    try {
      await pipeline(body, hashing, writer);
    } catch (err) {
      this.hashes.delete(uuid);
      throw err;
    } finally {
      this.watchers.bytesReceived?.(hashing.bytes);
    }
    if (state) state.size = size + hashing.bytes;
  }

  /** The running hash of this upload when it is in step with the stored bytes. */
  private resumableHash(uuid: string, size: number): HashState | undefined {
    const state = this.hashes.get(uuid);
    if (state && state.size === size) return state;
    this.hashes.delete(uuid);
    return size === 0 ? this.freshHash(uuid) : undefined;
  }

  private freshHash(uuid: string): HashState {
    if (this.hashes.size >= MAX_HASHES) this.hashes.delete(this.hashes.keys().next().value!);
    const state = { algorithm: DEFAULT_ALGORITHM, hash: createHash(DEFAULT_ALGORITHM), size: 0 };
    this.hashes.set(uuid, state);
    return state;
  }

  private checkLength({ range, length }: ChunkOptions, size: number): void {
    if (range && length !== undefined && range.end - range.start + 1 !== length) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range does not match Content-Length', { status: 416, headers: { Range: uploadRange(size) } });
    }
    const max = this.limits.maxBlobSize;
    if (max > 0 && length !== undefined && size + length > max) throw this.tooLarge();
  }

  private hashingStream(hash: Hash | undefined, alreadyStored: number): HashingStream {
    const max = this.limits.maxBlobSize;
    return new HashingStream(hash, max > 0 ? max - alreadyStored : Number.POSITIVE_INFINITY, () => this.tooLarge());
  }

  private tooLarge(): RegistryError {
    return new RegistryError('SIZE_INVALID', `blob larger than the configured limit of ${this.limits.maxBlobSize} bytes`, {
      status: 413,
      detail: { limit: this.limits.maxBlobSize },
    });
  }

  private async rehash(path: string, algorithm: Algorithm, uuid: string): Promise<string> {
    this.log.debug({ uuid, algorithm }, 'no running hash in step with the stored upload: re-hashing from storage');
    const hash = createHash(algorithm);
    for await (const chunk of await this.driver.reader(path)) hash.update(chunk as Buffer);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async store(name: string, uuid: string, digest: string): Promise<void> {
    // No "already stored?" check first: it costs a round trip or two on S3 on every push, and
    // moving verified bytes over the same content is harmless (content-addressed).
    await this.driver.move(layout.uploadData(name, uuid), layout.blobData(digest));
    await this.blobs.link(name, digest);
    await deleteIfPresent(this.driver, layout.upload(name, uuid));
  }
}
