/**
 * The S3 driver (AWS SDK v3), for AWS S3 and S3-compatible stores (MinIO, Ceph RGW, R2, ...).
 * A driver path `/a/b` is the key `<prefix>a/b`.
 *
 * Compromises, named where they are made below:
 * - S3 has no rename: `move` copies (multipart copy above 5 GiB) and then deletes the source, so
 *   for a moment both exist. Registry content is addressed by digest, so that window is harmless.
 * - A writer is a multipart upload whose progress (uploaded parts and the short tail that is not
 *   yet a whole part) lives in the bucket, in one state object per path, so that another request,
 *   process or replica can continue it. S3 cannot append, and ListParts is not everywhere.
 * - Writer state lives under `<prefix>~writers/`, a name no driver path can take (`~` is not
 *   allowed in paths) and that `list` never shows. The tree under it mirrors the paths, so deleting
 *   a folder also finds and aborts the unfinished writers below it (one more LIST per delete).
 * - Nothing of a writer is visible at its path before `commit()`: unlike the filesystem driver,
 *   `writer(path, false)` leaves an earlier committed object in place until a commit replaces it,
 *   `cancel()` discards only writer sessions, and `writer(path, true)` continues closed sessions,
 *   never a committed object.
 */
import { Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type ServerSideEncryption,
  type StorageClass,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { CheckedDriver } from './base.js';
import {
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
  StorageUnavailableError,
} from './driver.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's limits for multipart uploads: part sizes (but the last part may be smaller), part count. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_SIZE = 5 * GiB;
const MAX_PARTS = 10_000;
/** The largest object a single CopyObject may copy. */
const MAX_SINGLE_COPY = 5 * GiB;
const COPY_PART_SIZE = 256 * MiB;
const COPY_CONCURRENCY = 8;
/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;
const WRITERS = '~writers';
const STATE_NAME = '~state';
/** The S3 user metadata key (x-amz-meta-upload-id) that repeats a state's upload id. */
const UPLOAD_ID_META = 'upload-id';
const NAME = /^[A-Za-z0-9._-]+$/;

export interface S3DriverOptions {
  bucket: string;
  region: string;
  /** For S3-compatible stores, e.g. `http://127.0.0.1:9000`; empty: AWS. */
  endpoint?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key` (MinIO and most others). */
  forcePathStyle?: boolean;
  /** Key prefix (Distribution's rootdirectory); a `/` is added when missing. Default: none. */
  prefix?: string;
  /** Both or neither: without them the SDK's default chain (environment, profile, role) is used. */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** For stored content (not for writer state, which is rewritten often). Default: STANDARD. */
  storageClass?: string;
  serverSideEncryption?: '' | 'AES256' | 'aws:kms';
  /** With `aws:kms`: the key; empty for the bucket's AWS-managed key. */
  kmsKeyId?: string;
  /** Bytes a writer buffers before uploading a part: 5 MiB to 5 GiB. Default: 16 MiB. */
  partSize?: number;
  /** Answer `redirectURL` with presigned URLs. Default: false. */
  redirect?: boolean;
  /** Lifetime of a presigned URL in seconds. Default: 1200. */
  redirectExpiry?: number;
  /** A ready client (tests); the connection options above are then ignored. */
  client?: S3Client;
}

interface Part {
  PartNumber: number;
  ETag: string;
  size: number;
}

/** What a writer keeps between sessions. Stored as this JSON, a newline, then the tail's bytes. */
interface WriterState {
  version: 1;
  path: string;
  /** The multipart upload, once the first part was uploaded. */
  uploadId?: string;
  /** Uploaded parts, each at least MIN_PART_SIZE, in order. */
  parts: Part[];
  /** Bytes after the last part, stored in this object (less than MIN_PART_SIZE). */
  tailSize: number;
}

/** What the writers of a driver need to reach S3. */
interface Target {
  client: S3Client;
  bucket: string;
  partSize: number;
  key(path: string): string;
  stateKey(path: string): string;
  contentParams(): ContentParams;
  stateParams(): Pick<ContentParams, 'ServerSideEncryption' | 'SSEKMSKeyId'>;
  abort(key: string, uploadId: string): Promise<void>;
}

interface ContentParams {
  StorageClass?: StorageClass;
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** A missing object. A missing bucket or upload is a configuration or state problem instead. */
function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'NoSuchBucket' || name === 'NoSuchUpload') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

function isNoSuchUpload(err: unknown): boolean {
  return errorName(err) === 'NoSuchUpload' || httpStatus(err) === 404;
}

/**
 * `fn` over `items`, at most `limit` at a time, results in order. After a failure no new item
 * starts, and the running ones finish before the failure is thrown (so an abort that follows
 * does not race with them).
 */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

export class S3Driver implements StorageDriver, Target {
  readonly name = 's3';
  /** Chunks smaller than S3's minimum part size make every append re-upload the tail. */
  readonly minChunkSize = MIN_PART_SIZE;
  readonly client: S3Client;
  readonly bucket: string;
  readonly partSize: number;
  private readonly prefix: string;
  private readonly storageClass: StorageClass | undefined;
  private readonly sse: ServerSideEncryption | undefined;
  private readonly kmsKeyId: string | undefined;
  private readonly redirect: boolean;
  private readonly redirectExpiry: number;

  constructor(options: S3DriverOptions) {
    if (!options.bucket) throw new Error('s3 storage: bucket is required');
    this.partSize = options.partSize ?? 16 * MiB;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE || this.partSize > MAX_PART_SIZE) {
      throw new Error(`s3 storage: partSize must be a whole number of bytes from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB)`);
    }
    this.redirectExpiry = options.redirectExpiry ?? 1200;
    if (!Number.isInteger(this.redirectExpiry) || this.redirectExpiry < 1 || this.redirectExpiry > 604_800) {
      throw new Error('s3 storage: redirectExpiry must be 1 to 604800 seconds');
    }
    if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)) {
      throw new Error('s3 storage: give both accessKeyId and secretAccessKey, or neither');
    }
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.storageClass = options.storageClass ? (options.storageClass as StorageClass) : undefined;
    this.sse = options.serverSideEncryption || undefined;
    this.kmsKeyId = this.sse === 'aws:kms' && options.kmsKeyId ? options.kmsKeyId : undefined;
    this.redirect = options.redirect ?? false;
    this.client =
      options.client ??
      new S3Client({
        region: options.region,
        endpoint: options.endpoint || undefined,
        forcePathStyle: options.forcePathStyle ?? false,
        credentials:
          options.accessKeyId && options.secretAccessKey
            ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken || undefined }
            : undefined,
        // Only checksums S3 demands: otherwise the SDK sends aws-chunked bodies with trailing
        // checksums, which several S3-compatible stores (s3rver among them) store as object bytes.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // An unreachable endpoint should fail a request in seconds, not after the OS gives up.
        requestHandler: { connectionTimeout: 10_000 },
      });
  }

  key(path: string): string {
    return path === '/' ? this.prefix : this.prefix + path.slice(1);
  }

  /** `<prefix>~writers/a/b/~state` for `/a/b`: a child of the path's mirror folder. */
  stateKey(path: string): string {
    return `${this.writerFolder(path)}${STATE_NAME}`;
  }

  private writerFolder(path: string): string {
    return `${this.prefix}${WRITERS}${path}/`;
  }

  contentParams(): ContentParams {
    return { StorageClass: this.storageClass, ...this.stateParams() };
  }

  stateParams(): Pick<ContentParams, 'ServerSideEncryption' | 'SSEKMSKeyId'> {
    return { ServerSideEncryption: this.sse, SSEKMSKeyId: this.kmsKeyId };
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    // A PUT replaces an object atomically: readers get the old or the new content.
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: data, ContentLength: data.length, ...this.contentParams() }),
    );
  }

  /**
   * `If-None-Match: *` makes S3 refuse the PUT (412) when the key exists, atomically across
   * replicas. Some S3-compatible servers ignore that header (s3rver 3.7 does, so tests against it
   * cannot prove the race; the test helper adds the check in front of it); the HEAD first keeps the
   * ordinary "already there" case right on those too.
   */
  async putContentIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    const key = this.key(path);
    for (let attempt = 1; ; attempt++) {
      if (await this.head(key)) return false;
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentLength: data.length, IfNoneMatch: '*', ...this.contentParams() }),
        );
        return true;
      } catch (err) {
        if (errorName(err) === 'PreconditionFailed' || httpStatus(err) === 412) return false;
        // 409: another conditional write of this key is in flight; S3 asks to try again.
        if (httpStatus(err) === 409 && attempt < 3) continue;
        throw err;
      }
    }
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const key = this.key(path);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: offset > 0 ? `bytes=${offset}-` : undefined }),
      );
      if (!(out.Body instanceof Readable)) throw new Error('S3 answered without a readable body');
      return out.Body;
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      if (errorName(err) !== 'InvalidRange' && httpStatus(err) !== 416) throw err;
    }
    // S3 refuses a range that starts at the end; the contract wants an empty stream there.
    const info = await this.head(key);
    if (!info) throw new PathNotFoundError(path);
    if (offset === (info.ContentLength ?? 0)) return Readable.from([]);
    throw new InvalidOffsetError(path, offset);
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    if (append) {
      const loaded = await this.loadState(path);
      if (!loaded) throw new PathNotFoundError(path);
      return new S3Writer(this, path, loaded.state, loaded.tail, true);
    }
    await this.discardWriter(path);
    return new S3Writer(this, path, { version: 1, path, parts: [], tailSize: 0 }, Buffer.alloc(0), false);
  }

  async stat(path: string): Promise<FileInfo> {
    const key = this.key(path);
    const info = await this.head(key);
    if (info) return { path, size: info.ContentLength ?? 0, modified: info.LastModified ?? new Date(), isDirectory: false };
    const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${key}/`, MaxKeys: 1 }));
    const first = out.Contents?.[0];
    if (!first) throw new PathNotFoundError(path);
    return { path, size: 0, modified: first.LastModified ?? new Date(), isDirectory: true };
  }

  async list(path: string): Promise<string[]> {
    const prefix = path === '/' ? this.prefix : `${this.key(path)}/`;
    const names = new Set<string>();
    for await (const page of this.pages(prefix, '/')) {
      for (const { Prefix } of page.CommonPrefixes ?? []) if (Prefix) names.add(Prefix.slice(prefix.length, -1));
      for (const { Key } of page.Contents ?? []) if (Key) names.add(Key.slice(prefix.length));
    }
    // Writer state (`~writers`) and foreign keys (folder markers, odd names) are not driver paths.
    const children = [...names].filter((name) => NAME.test(name)).sort();
    if (children.length === 0 && path !== '/') throw new PathNotFoundError(path);
    const base = path === '/' ? '/' : `${path}/`;
    return children.map((name) => base + name);
  }

  /** S3 has no move: copy, then delete the source. Both exist for a moment in between. */
  async move(from: string, to: string): Promise<void> {
    const source = this.key(from);
    const info = await this.head(source);
    if (!info) throw new PathNotFoundError(from);
    if (from === to) return;
    const size = info.ContentLength ?? 0;
    try {
      if (size > MAX_SINGLE_COPY) await this.multipartCopy(source, this.key(to), size);
      else {
        await this.client.send(
          new CopyObjectCommand({ Bucket: this.bucket, Key: this.key(to), CopySource: this.copySource(source), ...this.contentParams() }),
        );
      }
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(from); // deleted since the HEAD
      throw err;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: source }));
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    const found = await Promise.all([this.deleteFile(key), this.deleteTree(`${key}/`), this.deleteWriters(this.writerFolder(path))]);
    if (!found.some(Boolean)) throw new PathNotFoundError(path);
  }

  async redirectURL(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    if (!this.redirect) return undefined;
    const input = { Bucket: this.bucket, Key: this.key(path) };
    const command = method === 'GET' ? new GetObjectCommand(input) : new HeadObjectCommand(input);
    return getSignedUrl(this.client, command, { expiresIn: this.redirectExpiry });
  }

  /** HEAD of an object; undefined when there is none. */
  private async head(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Copies an object too large for CopyObject in ranged parts (UploadPartCopy) on the server. */
  private async multipartCopy(source: string, target: string, size: number): Promise<void> {
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target, ...this.contentParams() }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error('S3 gave no upload id');
    try {
      const partSize = Math.max(COPY_PART_SIZE, Math.ceil(size / MAX_PARTS));
      const ranges = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => [i * partSize, Math.min(size, (i + 1) * partSize) - 1] as const);
      const parts = await mapLimit(ranges, COPY_CONCURRENCY, async ([first, last], i) => {
        const out = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: target,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: this.copySource(source),
            CopySourceRange: `bytes=${first}-${last}`,
          }),
        );
        return { PartNumber: i + 1, ETag: out.CopyPartResult?.ETag };
      });
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (err) {
      await this.abort(target, uploadId).catch(() => {});
      throw err;
    }
  }

  private async *pages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async deleteFile(key: string): Promise<boolean> {
    if (!(await this.head(key))) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    return true;
  }

  /** Deletes every key under `prefix`, a page (at most 1,000 keys) at a time. */
  private async deleteTree(prefix: string): Promise<boolean> {
    let found = false;
    for await (const page of this.pages(prefix)) {
      const keys = (page.Contents ?? []).flatMap(({ Key }) => (Key ? [Key] : []));
      found ||= keys.length > 0;
      await this.deleteKeys(keys);
    }
    return found;
  }

  /** Aborts and forgets the unfinished writers under `folder` (a path's mirror in `~writers/`). */
  private async deleteWriters(folder: string): Promise<boolean> {
    let found = false;
    for await (const page of this.pages(folder)) {
      const keys = (page.Contents ?? []).flatMap(({ Key }) => (Key ? [Key] : []));
      found ||= keys.length > 0;
      // `<prefix>~writers/a/b/~state` is the state of `/a/b`.
      const paths = keys
        .filter((key) => key.endsWith(`/${STATE_NAME}`))
        .map((key) => key.slice(this.prefix.length + WRITERS.length, -STATE_NAME.length - 1));
      await mapLimit(paths, 8, (path) => this.discardWriter(path, false));
      await this.deleteKeys(keys);
    }
    return found;
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const out = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = out.Errors?.[0];
      if (failed) throw new Error(`S3 could not delete ${out.Errors?.length} keys, first ${failed.Key}: ${failed.Code} ${failed.Message}`);
    }
  }

  /** Aborts the multipart upload of the writer at `path`, if any, and (unless told not to) deletes its state. */
  private async discardWriter(path: string, deleteState = true): Promise<void> {
    const stateKey = this.stateKey(path);
    const info = await this.head(stateKey);
    if (!info) return;
    const uploadId = info.Metadata?.[UPLOAD_ID_META];
    if (uploadId) await this.abort(this.key(path), uploadId);
    if (deleteState) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: stateKey }));
  }

  /** Aborts a multipart upload; one that is already gone (completed or aborted) is fine. */
  async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      if (!isNoSuchUpload(err)) throw err;
    }
  }

  private async loadState(path: string): Promise<{ state: WriterState; tail: Buffer } | undefined> {
    let bytes: Buffer;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.stateKey(path) }));
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return parseState(path, bytes);
  }
}

function isPart(value: unknown): value is Part {
  const part = value as Partial<Part> | null;
  return (
    typeof part === 'object' &&
    part !== null &&
    Number.isSafeInteger(part.PartNumber) &&
    typeof part.ETag === 'string' &&
    Number.isSafeInteger(part.size)
  );
}

function isState(value: unknown): value is WriterState {
  const state = value as Partial<WriterState> | null;
  return (
    typeof state === 'object' &&
    state !== null &&
    state.version === 1 &&
    typeof state.path === 'string' &&
    (state.uploadId === undefined || typeof state.uploadId === 'string') &&
    Array.isArray(state.parts) &&
    state.parts.every(isPart) &&
    Number.isSafeInteger(state.tailSize)
  );
}

/** Splits a state object into its JSON line and the tail bytes after it, checking both. */
function parseState(path: string, bytes: Buffer): { state: WriterState; tail: Buffer } {
  const newline = bytes.indexOf(0x0a);
  let state: unknown;
  try {
    state = JSON.parse(bytes.subarray(0, newline).toString('utf8'));
  } catch {
    state = undefined;
  }
  const tail = bytes.subarray(newline + 1);
  if (newline < 0 || !isState(state) || state.path !== path || state.tailSize !== tail.length) {
    throw new Error(`corrupt writer state for ${path}`);
  }
  return { state, tail };
}

/** The bytes a writer holds in memory: less than one part, plus the chunk being added. */
class Pending {
  private chunks: Buffer[] = [];
  size = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Gives back bytes taken by `take`, in front. */
  unshift(bytes: Buffer): void {
    this.chunks.unshift(bytes);
    this.size += bytes.length;
  }

  /** Removes the first `n` bytes and gives them as one buffer. */
  take(n: number): Buffer {
    const taken = Buffer.concat(this.chunks, n);
    let left = n;
    while (left > 0) {
      const first = this.chunks[0] as Buffer;
      if (first.length <= left) {
        this.chunks.shift();
        left -= first.length;
      } else {
        this.chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.size -= n;
    return taken;
  }

  /** Everything pending as one buffer, still pending. */
  whole(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}

/**
 * One writer session. Bytes collect in memory until a whole part (`partSize`) is there, which is
 * uploaded before more is accepted (backpressure), so memory stays about one part per writer.
 * `close()` also uploads what is pending as a part when it is at least S3's 5 MiB minimum, and
 * stores the rest (the tail) inside the state object, with the parts list and the upload id:
 * one PUT replaces both, so the state never disagrees with its tail.
 */
class S3Writer extends Writable implements FileWriter {
  private uploadId: string | undefined;
  private readonly parts: Part[];
  private readonly pending = new Pending();
  private storedBytes: number;
  /** A state object exists in the bucket (or might: removed on commit/cancel either way). */
  private readonly hasState: boolean;
  /** This session changed something a later session must see. */
  private dirty: boolean;
  private inflight: Promise<void> = Promise.resolve();
  /** The session is over: committed, closed or cancelled. */
  private ended = false;
  private committed = false;

  constructor(
    private readonly target: Target,
    private readonly path: string,
    state: WriterState,
    tail: Buffer,
    hasState: boolean,
  ) {
    super();
    this.uploadId = state.uploadId;
    this.parts = [...state.parts];
    this.storedBytes = this.parts.reduce((sum, part) => sum + part.size, 0);
    this.pending.push(tail);
    this.hasState = hasState;
    // A fresh session must leave state behind even when it wrote nothing, so that it can be appended to.
    this.dirty = !hasState;
  }

  get size(): number {
    return this.storedBytes + this.pending.size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const work = this.accept(chunk);
    this.inflight = work.catch(() => {});
    work.then(
      () => callback(),
      (err: unknown) => callback(wrap(err)),
    );
  }

  private async accept(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.dirty = true;
    while (this.pending.size >= this.target.partSize) await this.uploadPending(this.target.partSize);
  }

  // Uploaded parts and pending bytes outlive the stream: commit/close/cancel decide their fate.
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    callback(error);
  }

  /** Uploads the first `n` pending bytes as the next part; they stay pending if that fails. */
  private async uploadPending(n: number): Promise<void> {
    const body = this.pending.take(n);
    let part: Part;
    try {
      part = await this.uploadPart(this.parts.length + 1, body);
    } catch (err) {
      this.pending.unshift(body);
      throw err;
    }
    this.parts.push(part);
    this.storedBytes += part.size;
  }

  private async uploadPart(number: number, body: Buffer): Promise<Part> {
    if (number > MAX_PARTS) throw new Error(`upload of ${this.path} needs more than S3's ${MAX_PARTS} parts`);
    const { client, bucket } = this.target;
    const key = this.target.key(this.path);
    if (!this.uploadId) {
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...this.target.contentParams() }));
      if (!created.UploadId) throw new Error('S3 gave no upload id');
      this.uploadId = created.UploadId;
    }
    const out = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: this.uploadId, PartNumber: number, Body: body, ContentLength: body.length }),
    );
    if (!out.ETag) throw new Error('S3 gave no ETag for an uploaded part');
    return { PartNumber: number, ETag: out.ETag, size: body.length };
  }

  /** Ends the stream side and waits for a part upload still running from `_write`. */
  private async settle(): Promise<void> {
    if (!this.writableFinished) this.destroy();
    await this.inflight;
  }

  async commit(): Promise<void> {
    if (this.committed) return;
    if (this.ended) throw new Error('commit after the writer was closed or cancelled');
    if (!this.writableFinished) throw new Error('commit before the written stream finished');
    await this.inflight;
    const { client, bucket } = this.target;
    const key = this.target.key(this.path);
    if (this.parts.length === 0) {
      // Small content: one plain PUT, no multipart upload at all.
      const body = this.pending.whole();
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ...this.target.contentParams() }));
      this.ended = this.committed = true;
      if (this.uploadId) await this.target.abort(key, this.uploadId).catch(() => {}); // an upload that got no part
    } else {
      // The last part may be short. It is not added to `parts`, and the pending bytes stay until
      // S3 completes the upload, so a failed commit can still be `close()`d and retried later.
      const parts = [...this.parts];
      if (this.pending.size > 0) parts.push(await this.uploadPart(parts.length + 1, this.pending.whole()));
      const uploadId = this.uploadId;
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      );
      this.ended = this.committed = true;
    }
    // The content is in place; a state object left behind by a failure here is harmless (a later
    // `writer(path, false)` or a delete of the folder removes it), so it does not fail the commit.
    if (this.hasState) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: this.target.stateKey(this.path) })).catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.settle();
    if (!this.dirty) return;
    if (this.pending.size >= MIN_PART_SIZE) await this.uploadPending(this.pending.size);
    const state: WriterState = { version: 1, path: this.path, uploadId: this.uploadId, parts: this.parts, tailSize: this.pending.size };
    const body = Buffer.concat([Buffer.from(`${JSON.stringify(state)}\n`), this.pending.whole()]);
    await this.target.client.send(
      new PutObjectCommand({
        Bucket: this.target.bucket,
        Key: this.target.stateKey(this.path),
        Body: body,
        ContentLength: body.length,
        Metadata: this.uploadId ? { [UPLOAD_ID_META]: this.uploadId } : undefined,
        // Not the configured storage class: this object is rewritten at every append, and the
        // infrequent-access classes bill a minimum size and duration for each version.
        ...this.target.stateParams(),
      }),
    );
  }

  async cancel(): Promise<void> {
    if (this.committed) return;
    this.ended = true;
    await this.settle();
    if (this.uploadId) await this.target.abort(this.target.key(this.path), this.uploadId);
    // Abort first: if it fails, the state still names the upload and a retry can abort it.
    await this.target.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.target.stateKey(this.path) }));
  }
}

/** Errors raised inside the stream do not pass through base.ts: type them here. */
function wrap(err: unknown): Error {
  if (err instanceof StorageUnavailableError) return err;
  const wrapped = new StorageUnavailableError(`s3 storage failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  wrapped.driver = 's3';
  return wrapped;
}

export function createS3Driver(options: S3DriverOptions): StorageDriver {
  return new CheckedDriver(new S3Driver(options));
}
