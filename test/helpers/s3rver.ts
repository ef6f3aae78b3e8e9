/**
 * A real S3 API server for tests: s3rver 3.7 (pinned), in-process, on 127.0.0.1 and an ephemeral
 * port, with its data in a temp folder.
 *
 * s3rver is not S3 in a few ways that matter to a storage driver, so a small gate in front of it
 * (`gate`) brings it closer, and records every request:
 * - S3 replaces an object atomically; s3rver writes it in place, so two concurrent PUTs of one key
 *   can interleave their bytes. The gate runs writes to one key one at a time.
 * - S3 honours `If-None-Match: *` on PUT (a create-only write); s3rver ignores it. The gate refuses
 *   such a PUT with 412 when the key exists, checked under the same per-key lock, so the suite's
 *   "exactly one claim wins" case tests the driver's real code path (header sent, 412 understood).
 * - s3rver answers AbortMultipartUpload with MethodNotAllowed; the gate aborts by removing the
 *   upload's folder from s3rver's store (its 3.7 layout).
 * - s3rver's ListObjectsV2 with a delimiter misses folders that hold only folders (its directory
 *   walk stops a level down), walks keys unsorted, and makes continuation tokens with DES, which
 *   OpenSSL 3 no longer has. The gate answers ListObjectsV2 itself from s3rver's flat listing, in
 *   pages of `maxKeys` (small in tests, so that paging is exercised everywhere).
 * - Faults: `fail()` makes chosen operations answer an S3 error, for the driver's failure paths.
 * Still missing, and covered by tests of the request sequence instead: UploadPartCopy
 * (NotImplemented) and ListParts (MethodNotAllowed), neither of which the driver needs elsewhere.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { CreateBucketCommand, DeleteObjectsCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import type { DriverUnderTest } from '../../storage-drivers/test-suite.js';
import { createS3Driver, type S3DriverOptions } from '../../storage-drivers/s3.js';
import { tempDir } from './tmp.js';

/** The parts of s3rver 3.7 used here (it ships no types). */
interface S3rverObject {
  key: string;
  size: number;
  lastModifiedDate: Date;
  metadata: { etag?: string };
}
interface S3rverStore {
  listObjects(bucket: string, options: { prefix?: string; maxKeys: number }): Promise<{ objects: S3rverObject[] }>;
  getBucket(bucket: string): Promise<unknown>;
  existsObject(bucket: string, key: string): Promise<boolean>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}
interface S3rverApp {
  store: S3rverStore;
  logger: { close(): void };
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type S3rverConstructor = new (options: { directory: string; silent: boolean; vhostBuckets: boolean }) => S3rverApp;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** s3rver's only credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3RVER_REGION = 'us-east-1';

export interface RecordedRequest {
  /** The S3 operation, e.g. `PutObject`, `UploadPart`, `ListObjectsV2`. */
  op: string;
  bucket: string;
  key: string;
  /** 0 until answered. */
  status: number;
}

export interface Fault {
  op: string;
  /** Only keys containing this (default: any key). */
  key?: string;
  /** How many requests fail (default: all until removed). */
  times?: number;
  status?: number;
  code?: string;
}

export interface S3rverHandle {
  endpoint: string;
  /** A fresh bucket made at start. */
  bucket: string;
  /** Every request the gate saw, in order of arrival. */
  requests: RecordedRequest[];
  /** The most keys and common prefixes one ListObjectsV2 page holds (S3: 1000). */
  maxKeys: number;
  /** Options for a driver on this server's bucket (path-style, s3rver's credentials). */
  driverOptions(overrides?: Partial<S3DriverOptions>): S3DriverOptions;
  /** An SDK client for this server, configured as the driver configures its own. */
  client(config?: Partial<S3ClientConfig>): S3Client;
  createBucket(name?: string): Promise<string>;
  /** Makes matching requests fail with an S3 error; returns a function that removes the fault. */
  fail(fault: Fault): () => void;
  /** All keys under `prefix` in `bucket`. */
  keys(prefix: string, bucket?: string): Promise<string[]>;
  deletePrefix(prefix: string, bucket?: string): Promise<void>;
  /** Keys of multipart uploads neither completed nor aborted, under `prefix`. */
  pendingUploads(prefix: string, bucket?: string): Promise<string[]>;
  close(): Promise<void>;
}

function operation(method: string, url: URL, headers: IncomingMessage['headers']): Omit<RecordedRequest, 'status'> {
  const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
  const key = rest.map(decodeURIComponent).join('/');
  const query = url.searchParams;
  const copy = 'x-amz-copy-source' in headers;
  let op = `${method} ${key ? 'object' : 'bucket'}`;
  if (!key) {
    if (method === 'GET') op = query.has('list-type') ? 'ListObjectsV2' : 'ListObjects';
    else if (method === 'POST' && query.has('delete')) op = 'DeleteObjects';
    else if (method === 'PUT') op = 'CreateBucket';
  } else if (method === 'GET') op = 'GetObject';
  else if (method === 'HEAD') op = 'HeadObject';
  else if (method === 'PUT') op = query.has('uploadId') ? (copy ? 'UploadPartCopy' : 'UploadPart') : copy ? 'CopyObject' : 'PutObject';
  else if (method === 'POST') op = query.has('uploads') ? 'CreateMultipartUpload' : query.has('uploadId') ? 'CompleteMultipartUpload' : op;
  else if (method === 'DELETE') op = query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return { op, bucket: decodeURIComponent(bucket), key };
}

async function answerError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message = code): Promise<void> {
  await finished(req.resume()).catch(() => {});
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** ListObjectsV2 as S3 answers it: sorted, grouped by the delimiter, in pages. */
async function listObjectsV2(store: S3rverStore, bucket: string, query: URLSearchParams, pageLimit: number): Promise<string> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxKeys = Math.min(pageLimit, Number(query.get('max-keys') ?? 1000));
  const token = query.get('continuation-token');
  const after = token ? Buffer.from(token, 'base64url').toString('utf8') : (query.get('start-after') ?? '');
  const { objects } = await store.listObjects(bucket, { prefix, maxKeys: Number.POSITIVE_INFINITY });
  objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const entries: Array<{ prefix: string } | { object: S3rverObject }> = [];
  let truncated = false;
  let last = '';
  for (const object of objects) {
    if (object.key <= after || (delimiter && after.endsWith(delimiter) && object.key.startsWith(after))) continue;
    const cut = delimiter ? object.key.indexOf(delimiter, prefix.length) : -1;
    const name = cut >= 0 ? object.key.slice(0, cut + delimiter.length) : object.key;
    if (name === last) continue; // one more key under the same common prefix
    if (entries.length === maxKeys) {
      truncated = true;
      break;
    }
    entries.push(cut >= 0 ? { prefix: name } : { object });
    last = name;
  }
  const body = entries.map((entry) =>
    'prefix' in entry
      ? `<CommonPrefixes><Prefix>${xml(entry.prefix)}</Prefix></CommonPrefixes>`
      : `<Contents><Key>${xml(entry.object.key)}</Key><LastModified>${entry.object.lastModifiedDate.toISOString()}</LastModified>` +
        `<ETag>${xml(entry.object.metadata.etag ?? '')}</ETag><Size>${entry.object.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
    `<Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix>`,
    delimiter ? `<Delimiter>${xml(delimiter)}</Delimiter>` : '',
    `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${entries.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>`,
    token ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '',
    truncated ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>` : '',
    ...body,
    '</ListBucketResult>',
  ].join('');
}

/** One-at-a-time sections per key: `await lock(key)` gives the function that ends the section. */
function keyedLock(): (key: string) => Promise<() => void> {
  const tails = new Map<string, Promise<void>>();
  return async (key) => {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    };
  };
}

/** Where it listens (default 127.0.0.1 and a free port) and the first bucket's name (default random). */
export interface S3rverOptions {
  address?: string;
  port?: number;
  bucket?: string;
}

export async function startS3rver(options: S3rverOptions = {}): Promise<S3rverHandle> {
  const data = await tempDir('berth-s3rver-');
  // Path-style only: reached by a host name (a compose service `s3`), s3rver would read it as a bucket.
  const s3rver = new S3rver({ directory: data.path, silent: true, vhostBuckets: false });
  const inner = s3rver.callback();
  const requests: RecordedRequest[] = [];
  let faults: Fault[] = [];
  const lock = keyedLock();

  const uploadsFolder = (bucket: string): string => s3rver.store.getResourcePath(bucket, undefined, 'uploads');

  async function abortUpload(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, uploadId: string): Promise<void> {
    const folder = join(uploadsFolder(bucket), uploadId);
    const owner = /^[0-9a-f]+$/.test(uploadId) ? await readFile(join(folder, 'key'), 'utf8').catch(() => undefined) : undefined;
    if (owner !== key) return answerError(req, res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    await rm(folder, { recursive: true, force: true });
    await finished(req.resume()).catch(() => {});
    res.writeHead(204).end();
  }

  async function gate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://s3rver');
    const method = req.method ?? 'GET';
    const request: RecordedRequest = { ...operation(method, url, req.headers), status: 0 };
    requests.push(request);
    res.on('finish', () => (request.status = res.statusCode));

    const fault = faults.find((f) => f.op === request.op && (f.key === undefined || request.key.includes(f.key)));
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) faults = faults.filter((f) => f !== fault);
      return answerError(req, res, fault.status ?? 500, fault.code ?? 'InternalError', 'injected fault');
    }
    if (request.op === 'ListObjectsV2' && (await s3rver.store.getBucket(request.bucket))) {
      const body = await listObjectsV2(s3rver.store, request.bucket, url.searchParams, s3.maxKeys);
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (request.op === 'AbortMultipartUpload') {
      return abortUpload(req, res, request.bucket, request.key, url.searchParams.get('uploadId') ?? '');
    }
    const writes = request.key !== '' && (method === 'PUT' || method === 'POST' || method === 'DELETE');
    if (!writes) return inner(req, res);
    const release = await lock(`${request.bucket}/${request.key}`);
    res.on('close', release);
    if (request.op === 'PutObject' && req.headers['if-none-match'] === '*' && (await s3rver.store.existsObject(request.bucket, request.key))) {
      return answerError(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    inner(req, res);
  }

  const server: Server = createServer((req, res) => {
    gate(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.address ?? '127.0.0.1', resolve);
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const client = (config: Partial<S3ClientConfig> = {}): S3Client =>
    new S3Client({
      region: S3RVER_REGION,
      endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...config,
    });
  const admin = client();

  const createBucket = async (given?: string): Promise<string> => {
    const name = given ?? `berth-${randomBytes(6).toString('hex')}`;
    await admin.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  };
  const bucket = await createBucket(options.bucket);

  const keys = async (prefix: string, inBucket = bucket): Promise<string[]> => {
    const { objects } = await s3rver.store.listObjects(inBucket, { prefix, maxKeys: Number.POSITIVE_INFINITY });
    return objects.map(({ key }) => key).sort();
  };

  const s3: S3rverHandle = {
    endpoint,
    bucket,
    requests,
    maxKeys: 1000,
    driverOptions: (overrides = {}) => ({
      bucket,
      region: S3RVER_REGION,
      endpoint,
      forcePathStyle: true,
      ...S3RVER_CREDENTIALS,
      ...overrides,
    }),
    client,
    createBucket,
    fail(fault) {
      const added = { ...fault };
      faults.push(added);
      return () => {
        faults = faults.filter((f) => f !== added);
      };
    },
    keys,
    async deletePrefix(prefix, inBucket = bucket) {
      const found = await keys(prefix, inBucket);
      for (let i = 0; i < found.length; i += 1000) {
        const batch = found.slice(i, i + 1000).map((Key) => ({ Key }));
        await admin.send(new DeleteObjectsCommand({ Bucket: inBucket, Delete: { Objects: batch, Quiet: true } }));
      }
    },
    async pendingUploads(prefix, inBucket = bucket) {
      const folder = uploadsFolder(inBucket);
      const ids = await readdir(folder).catch(() => [] as string[]);
      const owners = await Promise.all(ids.map((id) => readFile(join(folder, id, 'key'), 'utf8').catch(() => '')));
      return owners.filter((key) => key !== '' && key.startsWith(prefix)).sort();
    },
    async close() {
      admin.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      s3rver.logger.close();
      await data.remove();
    },
  };
  return s3;
}

/** Starts one s3rver for the calling test file (beforeAll) and stops it after (afterAll). */
export function useS3rver(): () => S3rverHandle {
  let handle: S3rverHandle | undefined;
  beforeAll(async () => {
    handle = await startS3rver();
  });
  afterAll(async () => {
    await handle?.close();
  });
  return () => {
    if (!handle) throw new Error('s3rver is not running (useS3rver() must be called at the top of a test file)');
    return handle;
  };
}

let prefixes = 0;

/**
 * A driver on a fresh key prefix. Its cleanup fails the test when writer state or an unfinished
 * multipart upload was left behind ("did not clean up properly"), then deletes the prefix.
 */
export async function freshS3Driver(
  s3: S3rverHandle,
  overrides: Partial<S3DriverOptions> = {},
): Promise<DriverUnderTest & { prefix: string }> {
  const prefix = `t${++prefixes}-${randomBytes(4).toString('hex')}/`;
  const driver = createS3Driver(s3.driverOptions({ prefix, ...overrides }));
  return {
    driver,
    prefix,
    cleanup: async () => {
      const leftovers = [...(await s3.keys(`${prefix}~writers/`)), ...(await s3.pendingUploads(prefix)).map((key) => `upload of ${key}`)];
      await s3.deletePrefix(prefix);
      if (leftovers.length > 0) throw new Error(`the s3 driver did not clean up properly: ${leftovers.join(', ')}`);
    },
  };
}
