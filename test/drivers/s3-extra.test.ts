/**
 * What the shared suite cannot show about the S3 driver: request sequences (multipart copy above
 * 5 GiB, which s3rver cannot do; how few requests a writer makes), writers continued by another
 * replica, presigned redirects, and failure paths (S3 unreachable or answering errors).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FileWriter,
  InvalidOffsetError,
  PathNotFoundError,
  type StorageDriver,
  StorageUnavailableError,
} from '../../storage-drivers/driver.js';
import { createS3Driver, type S3DriverOptions } from '../../storage-drivers/s3.js';
import { freshS3Driver, S3RVER_CREDENTIALS, S3RVER_REGION, useS3rver } from '../helpers/s3rver.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const s3 = useS3rver();

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function writeSession(writer: FileWriter, ...pieces: Buffer[]): Promise<void> {
  await pipeline(async function* () {
    yield* pieces;
  }, writer);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs `fn` and gives the S3 operations it caused, in order. */
async function opsOf(fn: () => Promise<unknown>): Promise<string[]> {
  const start = s3().requests.length;
  await fn();
  return s3()
    .requests.slice(start)
    .map(({ op }) => op);
}

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  const pending = cleanups;
  cleanups = [];
  for (const cleanup of pending.reverse()) await cleanup();
});

/** A driver on a fresh prefix of the test s3rver, cleaned up (and checked) after the test. */
async function fresh(overrides: Partial<S3DriverOptions> = {}): Promise<{ driver: StorageDriver; prefix: string; options: S3DriverOptions }> {
  const made = await freshS3Driver(s3(), overrides);
  cleanups.push(made.cleanup);
  return { driver: made.driver, prefix: made.prefix, options: s3().driverOptions({ prefix: made.prefix, ...overrides }) };
}

interface Call {
  command: string;
  input: Record<string, unknown>;
}

/**
 * An S3Client that never touches the network: a middleware at the front of the SDK's stack
 * records each command with its input and answers it with `answer(call)`.
 */
type Answer = (call: Call) => Record<string, unknown> | Promise<Record<string, unknown>>;

function recordingClient(answer: Answer): { client: S3Client; calls: Call[] } {
  const client = new S3Client({ region: S3RVER_REGION, endpoint: 'http://127.0.0.1:9', credentials: S3RVER_CREDENTIALS, maxAttempts: 1 });
  const calls: Call[] = [];
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const call = { command: context.commandName ?? '', input: args.input as Record<string, unknown> };
      calls.push(call);
      return { output: { $metadata: {}, ...(await answer(call)) } as never, response: undefined };
    },
    { step: 'initialize', name: 'recordingClient', priority: 'high' },
  );
  return { client, calls };
}

function notFound(): Error {
  return Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
}

function recordingDriver(answer: Answer, options: Partial<S3DriverOptions> = {}) {
  const { client, calls } = recordingClient(answer);
  const driver = createS3Driver({ bucket: 'bkt', region: S3RVER_REGION, prefix: 'root', client, ...options });
  return { driver, calls };
}

describe('s3 driver: move', () => {
  function bigObject(size: number, failPart?: number) {
    return recordingDriver(({ command, input }) => {
      switch (command) {
        case 'HeadObjectCommand':
          return { ContentLength: size, LastModified: new Date() };
        case 'CreateMultipartUploadCommand':
          return { UploadId: 'upload-1' };
        case 'UploadPartCopyCommand':
          if (input.PartNumber === failPart) throw Object.assign(new Error('InternalError'), { $metadata: { httpStatusCode: 500 } });
          return { CopyPartResult: { ETag: `"etag-${String(input.PartNumber)}"` } };
        default:
          return {};
      }
    });
  }

  it('copies objects over 5 GiB in ranged parts on the server, then deletes the source', async () => {
    const size = 12 * GiB + 5;
    const { driver, calls } = bigObject(size);
    await driver.move('/blobs/src/data', '/blobs/dst/data');

    expect(calls[0]).toMatchObject({ command: 'HeadObjectCommand', input: { Bucket: 'bkt', Key: 'root/blobs/src/data' } });
    expect(calls[1]).toMatchObject({ command: 'CreateMultipartUploadCommand', input: { Bucket: 'bkt', Key: 'root/blobs/dst/data' } });
    const copies = calls.filter(({ command }) => command === 'UploadPartCopyCommand').map(({ input }) => input);
    expect(copies.length).toBe(Math.ceil(size / (256 * MiB)));
    // The ranges cover every byte once, in part order.
    const sorted = [...copies].sort((a, b) => Number(a.PartNumber) - Number(b.PartNumber));
    let next = 0;
    for (const [i, copy] of sorted.entries()) {
      expect(copy).toMatchObject({ Key: 'root/blobs/dst/data', UploadId: 'upload-1', PartNumber: i + 1, CopySource: 'bkt/root/blobs/src/data' });
      const [first, last] = String(copy.CopySourceRange).replace('bytes=', '').split('-').map(Number);
      expect(first).toBe(next);
      expect(last! - first! + 1).toBeLessThanOrEqual(5 * GiB);
      next = last! + 1;
    }
    expect(next).toBe(size);
    const tail = calls.slice(-2);
    expect(tail[0]).toMatchObject({ command: 'CompleteMultipartUploadCommand', input: { Key: 'root/blobs/dst/data', UploadId: 'upload-1' } });
    const parts = (tail[0]!.input.MultipartUpload as { Parts: Array<{ PartNumber: number; ETag: string }> }).Parts;
    expect(parts.map((p) => p.PartNumber)).toEqual(sorted.map((_, i) => i + 1));
    expect(parts.every((p) => p.ETag === `"etag-${p.PartNumber}"`)).toBe(true);
    expect(tail[1]).toMatchObject({ command: 'DeleteObjectCommand', input: { Key: 'root/blobs/src/data' } });
  });

  it('stays within 10,000 parts for the largest objects', async () => {
    const { driver, calls } = bigObject(5 * 1024 * GiB);
    await driver.move('/a', '/b');
    expect(calls.filter(({ command }) => command === 'UploadPartCopyCommand').length).toBeLessThanOrEqual(10_000);
  });

  it('uses one CopyObject up to 5 GiB', async () => {
    const { driver, calls } = bigObject(5 * GiB);
    await driver.move('/a', '/b');
    expect(calls.map(({ command }) => command)).toEqual(['HeadObjectCommand', 'CopyObjectCommand', 'DeleteObjectCommand']);
    expect(calls[1]!.input).toMatchObject({ Key: 'root/b', CopySource: 'bkt/root/a' });
  });

  it('aborts a failed multipart copy and keeps the source', async () => {
    const { driver, calls } = bigObject(6 * GiB, 3);
    await expect(driver.move('/a', '/b')).rejects.toBeInstanceOf(StorageUnavailableError);
    const commands = calls.map(({ command }) => command);
    expect(commands).toContain('AbortMultipartUploadCommand');
    expect(commands).not.toContain('CompleteMultipartUploadCommand');
    expect(commands).not.toContain('DeleteObjectCommand');
  });

  it('moving a file onto itself keeps it', async () => {
    const { driver } = await fresh();
    await driver.putContent('/same', Buffer.from('x'));
    await driver.move('/same', '/same');
    expect((await driver.getContent('/same')).toString()).toBe('x');
  });
});

describe('s3 driver: options', () => {
  it('sends the storage class and encryption with content, and only encryption with writer state', async () => {
    const { driver, calls } = recordingDriver(
      ({ command }) => {
        if (command === 'HeadObjectCommand') throw notFound();
        if (command === 'CreateMultipartUploadCommand') return { UploadId: 'u' };
        if (command === 'UploadPartCommand') return { ETag: '"e"' };
        return {};
      },
      { storageClass: 'STANDARD_IA', serverSideEncryption: 'aws:kms', kmsKeyId: 'key-1', partSize: 5 * MiB },
    );
    await driver.putContent('/link', Buffer.from('x'));
    const writer = await driver.writer('/upload', false);
    await writeSession(writer, randomBytes(5 * MiB + 1));
    await writer.close();
    const sse = { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'key-1' };
    const put = calls.find(({ command, input }) => command === 'PutObjectCommand' && input.Key === 'root/link');
    expect(put?.input).toMatchObject({ StorageClass: 'STANDARD_IA', ...sse });
    expect(calls.find(({ command }) => command === 'CreateMultipartUploadCommand')?.input).toMatchObject({ StorageClass: 'STANDARD_IA', ...sse });
    const state = calls.find(({ command, input }) => command === 'PutObjectCommand' && input.Key === 'root/~writers/upload/~state');
    expect(state?.input).toMatchObject(sse);
    expect(state?.input.StorageClass).toBeUndefined();
  });

  it('keys are the prefix plus the path', async () => {
    for (const prefix of ['berth', '/berth/', 'berth/']) {
      const bucket = await s3().createBucket();
      const driver = createS3Driver(s3().driverOptions({ bucket, prefix }));
      await driver.putContent('/a/b', Buffer.from('x'));
      expect(await s3().keys('', bucket)).toEqual(['berth/a/b']);
    }
  });

  it('refuses parts below 5 MiB and half-given credentials', () => {
    expect(() => createS3Driver({ bucket: 'b', region: 'r', partSize: 5 * MiB - 1 })).toThrow(/partSize/);
    expect(() => createS3Driver({ bucket: 'b', region: 'r', accessKeyId: 'x' })).toThrow(/secretAccessKey/);
  });

  it('asks for chunks of at least S3’s minimum part size', () => {
    expect(createS3Driver({ bucket: 'b', region: 'r' }).minChunkSize).toBe(5 * MiB);
  });
});

describe('s3 driver: writers', () => {
  it('continues an upload on another replica, whatever its part size', async () => {
    const { driver: a, options } = await fresh({ partSize: 16 * MiB });
    const b = createS3Driver({ ...options, partSize: 5 * MiB }); // a second process: its own client and config
    const pieces = [randomBytes(7 * MiB + 1), randomBytes(6 * MiB + 3), randomBytes(100)];

    const first = await a.writer('/r/_uploads/u/data', false);
    await writeSession(first, pieces[0]!);
    await first.close();
    const second = await b.writer('/r/_uploads/u/data', true);
    expect(second.size).toBe(pieces[0]!.length);
    await writeSession(second, pieces[1]!);
    await second.close();
    const third = await a.writer('/r/_uploads/u/data', true);
    expect(third.size).toBe(pieces[0]!.length + pieces[1]!.length);
    await writeSession(third, pieces[2]!);
    await third.commit();

    const got = await readAll(await b.reader('/r/_uploads/u/data'));
    expect(sha256(got)).toBe(sha256(Buffer.concat(pieces)));
  });

  it('writes with few requests', async () => {
    const { driver } = await fresh(); // 16 MiB parts, the default
    expect(await opsOf(() => driver.putContent('/small', randomBytes(100)))).toEqual(['PutObject']);

    const blob = randomBytes(40 * MiB);
    const oneSession = await opsOf(async () => {
      const writer = await driver.writer('/one', false);
      await writeSession(writer, blob);
      await writer.commit();
    });
    expect(oneSession).toEqual([
      'HeadObject', // earlier writer state to discard?
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart', // the last 8 MiB
      'CompleteMultipartUpload',
    ]);

    const cuts = [0, 14 * MiB, 27 * MiB, blob.length];
    const sessions: string[][] = [];
    for (let i = 0; i < 3; i++) {
      sessions.push(
        await opsOf(async () => {
          const writer = await driver.writer('/three', i > 0);
          await writeSession(writer, blob.subarray(cuts[i], cuts[i + 1]));
          if (i < 2) await writer.close();
          else await writer.commit();
        }),
      );
    }
    expect(sessions).toEqual([
      ['HeadObject', 'CreateMultipartUpload', 'UploadPart', 'PutObject'], // state (with no tail) after a 14 MiB part
      ['GetObject', 'UploadPart', 'PutObject'],
      ['GetObject', 'UploadPart', 'CompleteMultipartUpload', 'DeleteObject'],
    ]);
    expect(sha256(await readAll(await driver.reader('/three')))).toBe(sha256(blob));

    // A status check (open, nothing written, close) reads the state and writes nothing.
    const writer = await driver.writer('/status', false);
    await writeSession(writer);
    await writer.close();
    const status = await opsOf(async () => {
      const again = await driver.writer('/status', true);
      await writeSession(again);
      await again.close();
    });
    expect(status).toEqual(['GetObject']);
    await (await driver.writer('/status', true)).cancel();
  });

  it('holds about one part in memory: the source waits while a part uploads', async () => {
    let produced = 0;
    let uploaded = 0;
    let mostAhead = 0;
    const { driver, calls } = recordingDriver(
      async ({ command, input }) => {
        if (command === 'HeadObjectCommand') throw notFound();
        if (command === 'CreateMultipartUploadCommand') return { UploadId: 'u' };
        if (command === 'UploadPartCommand') {
          mostAhead = Math.max(mostAhead, produced - uploaded);
          await new Promise((resolve) => setTimeout(resolve, 5)); // a slow S3
          uploaded += (input.Body as Buffer).length;
          return { ETag: `"e${String(input.PartNumber)}"` };
        }
        return {};
      },
      { partSize: 5 * MiB },
    );
    const writer = await driver.writer('/big', false);
    await pipeline(async function* () {
      for (let i = 0; i < 64; i++) {
        produced += MiB;
        yield Buffer.alloc(MiB, i);
      }
    }, writer);
    expect(calls.filter(({ command }) => command === 'UploadPartCommand')).toHaveLength(12);
    expect(mostAhead).toBeLessThanOrEqual(5 * MiB + MiB);
    expect(writer.size).toBe(64 * MiB);
    await writer.cancel();
  });

  it('keeps chunks below 5 MiB as the tail, inside the state object', async () => {
    const { driver, prefix } = await fresh({ partSize: 5 * MiB });
    const data = randomBytes(3 * MiB);
    const writer = await driver.writer('/t', false);
    await writeSession(writer, data);
    await writer.close();
    expect(await s3().keys(prefix)).toEqual([`${prefix}~writers/t/~state`]);
    expect(await s3().pendingUploads(prefix)).toEqual([]);
    const again = await driver.writer('/t', true);
    await writeSession(again);
    await again.commit();
    expect((await driver.getContent('/t')).equals(data)).toBe(true);
    expect(await s3().keys(prefix)).toEqual([`${prefix}t`]);
  });

  it('starting over aborts the earlier multipart upload', async () => {
    const { driver, prefix } = await fresh({ partSize: 5 * MiB });
    const first = await driver.writer('/w', false);
    await writeSession(first, randomBytes(6 * MiB));
    await first.close();
    expect(await s3().pendingUploads(prefix)).toEqual([`${prefix}w`]);
    const second = await driver.writer('/w', false);
    expect(await s3().pendingUploads(prefix)).toEqual([]);
    await writeSession(second, Buffer.from('new'));
    await second.commit();
    expect((await driver.getContent('/w')).toString()).toBe('new');
  });

  it('deleting a folder aborts the unfinished writers below it', async () => {
    const { driver, prefix } = await fresh({ partSize: 5 * MiB });
    for (const [path, size] of [
      ['/up/u1/data', 6 * MiB],
      ['/up/u2/data', 1000],
    ] as const) {
      const writer = await driver.writer(path, false);
      await writeSession(writer, randomBytes(size));
      await writer.close();
    }
    await driver.putContent('/up/u2/startedat', Buffer.from('now'));
    await driver.putContent('/upx', Buffer.from('sibling'));
    await driver.delete('/up');
    expect(await s3().pendingUploads(prefix)).toEqual([]);
    expect(await s3().keys(prefix)).toEqual([`${prefix}upx`]);
    await expect(driver.writer('/up/u1/data', true)).rejects.toBeInstanceOf(PathNotFoundError);
  });

  it('hides writer state from list and stat, also without a prefix', async () => {
    const bucket = await s3().createBucket();
    const driver = createS3Driver(s3().driverOptions({ bucket, prefix: '' }));
    const writer = await driver.writer('/a/b', false);
    await writeSession(writer, Buffer.from('pending'));
    await writer.close();
    expect(await s3().keys('', bucket)).toEqual(['~writers/a/b/~state']);
    expect(await driver.list('/')).toEqual([]);
    await expect(driver.stat('/a')).rejects.toBeInstanceOf(PathNotFoundError);
    await driver.putContent('/x', Buffer.from('x'));
    expect(await driver.list('/')).toEqual(['/x']);
    await (await driver.writer('/a/b', true)).cancel();
    expect(await s3().keys('', bucket)).toEqual(['x']);
  });

  it('refuses to commit after close', async () => {
    const { driver } = await fresh();
    const writer = await driver.writer('/c', false);
    await writeSession(writer, Buffer.from('x'));
    await writer.close();
    await expect(writer.commit()).rejects.toBeInstanceOf(StorageUnavailableError);
    await (await driver.writer('/c', true)).cancel();
  });
});

describe('s3 driver: reader', () => {
  it('reads an empty file and refuses offsets past its end', async () => {
    const { driver } = await fresh();
    await driver.putContent('/empty', Buffer.alloc(0));
    expect((await readAll(await driver.reader('/empty'))).length).toBe(0);
    await expect(driver.reader('/empty', 1)).rejects.toBeInstanceOf(InvalidOffsetError);
    await expect(driver.reader('/missing', 3)).rejects.toBeInstanceOf(PathNotFoundError);
  });
});

describe('s3 driver: redirects', () => {
  it('presigns GET and HEAD URLs that fetch the object', async () => {
    const { driver } = await fresh({ redirect: true, redirectExpiry: 60 });
    const content = randomBytes(1000);
    await driver.putContent('/blobs/x/data', content);
    const get = await driver.redirectURL!('/blobs/x/data', 'GET');
    expect(get).toMatch(/X-Amz-Expires=60/);
    const response = await fetch(get!);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(content)).toBe(true);
    const head = await fetch((await driver.redirectURL!('/blobs/x/data', 'HEAD'))!, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
  });

  it('gives no URL when redirects are off', async () => {
    const { driver } = await fresh();
    await driver.putContent('/x', Buffer.from('x'));
    expect(await driver.redirectURL!('/x', 'GET')).toBeUndefined();
  });
});

describe('s3 driver: S3 unreachable', () => {
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  function everyMethod(driver: StorageDriver): Array<[string, () => Promise<unknown>]> {
    return [
      ['getContent', () => driver.getContent('/a')],
      ['putContent', () => driver.putContent('/a', Buffer.from('x'))],
      ['putContentIfAbsent', () => driver.putContentIfAbsent('/a', Buffer.from('x'))],
      ['reader', () => driver.reader('/a')],
      ['writer (new)', () => driver.writer('/a', false)],
      ['writer (append)', () => driver.writer('/a', true)],
      ['stat', () => driver.stat('/a')],
      ['list', () => driver.list('/a')],
      ['list root', () => driver.list('/')],
      ['move', () => driver.move('/a', '/b')],
      ['delete', () => driver.delete('/a')],
    ];
  }

  it('fails every method with StorageUnavailableError, quickly (one attempt, short timeout)', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const client = new S3Client({
      region: S3RVER_REGION,
      endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 500, requestTimeout: 1000 },
    });
    const driver = createS3Driver({ bucket: 'b', region: S3RVER_REGION, client });
    for (const [name, call] of everyMethod(driver)) {
      const started = Date.now();
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(StorageUnavailableError);
      expect((err as StorageUnavailableError).driver).toBe('s3');
      expect(Date.now() - started, name).toBeLessThan(1500);
    }
  });

  it('fails with its own client too, after the SDK’s few quick retries', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const driver = createS3Driver({ ...s3().driverOptions({ endpoint }) });
    const started = Date.now();
    await expect(driver.getContent('/a')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(driver.stat('/a')).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('s3 driver: S3 answering errors', () => {
  let removeFaults: Array<() => void> = [];
  afterEach(() => {
    for (const remove of removeFaults) remove();
    removeFaults = [];
  });
  const fail = (fault: Parameters<ReturnType<typeof s3>['fail']>[0]) => removeFaults.push(s3().fail(fault));

  it('a failed commit leaves nothing at the path, and can be closed and retried', async () => {
    const { driver } = await fresh({ partSize: 5 * MiB });
    const data = randomBytes(6 * MiB + 10);
    const writer = await driver.writer('/blob', false);
    await writeSession(writer, data);
    fail({ op: 'CompleteMultipartUpload' });
    await expect(writer.commit()).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(driver.stat('/blob')).rejects.toBeInstanceOf(PathNotFoundError);
    await writer.close();
    removeFaults.pop()!();

    const retry = await driver.writer('/blob', true);
    expect(retry.size).toBe(data.length);
    await writeSession(retry);
    await retry.commit();
    expect(sha256(await readAll(await driver.reader('/blob')))).toBe(sha256(data));
  });

  it('a failed small commit leaves nothing at the path', async () => {
    const { driver } = await fresh();
    const writer = await driver.writer('/small', false);
    await writeSession(writer, Buffer.from('abc'));
    fail({ op: 'PutObject', key: '/small' });
    await expect(writer.commit()).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(driver.getContent('/small')).rejects.toBeInstanceOf(PathNotFoundError);
    await writer.cancel();
  });

  it('a part that fails mid-stream errors the stream; what the writer holds is kept by close', async () => {
    const { driver } = await fresh({ partSize: 5 * MiB });
    const data = randomBytes(11 * MiB);
    const writer = await driver.writer('/p', false);
    fail({ op: 'UploadPart', status: 503, code: 'ServiceUnavailable' });
    const err = await writeSession(writer, data.subarray(0, 6 * MiB), data.subarray(6 * MiB)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as StorageUnavailableError).driver).toBe('s3');
    const kept = writer.size;
    expect(kept).toBeGreaterThanOrEqual(5 * MiB);
    removeFaults.pop()!();
    await writer.close();

    const rest = await driver.writer('/p', true);
    expect(rest.size).toBe(kept);
    await writeSession(rest, data.subarray(kept));
    await rest.commit();
    expect(sha256(await readAll(await driver.reader('/p')))).toBe(sha256(data));
  });

  it('retries a passing error without the caller noticing', async () => {
    const { driver } = await fresh();
    fail({ op: 'PutObject', times: 1, status: 503, code: 'SlowDown' });
    const ops = s3().requests.length;
    await driver.putContent('/retried', Buffer.from('x'));
    expect(s3().requests.slice(ops).map(({ op, status }) => `${op} ${status}`)).toEqual(['PutObject 503', 'PutObject 200']);
    expect((await driver.getContent('/retried')).toString()).toBe('x');
  });

  it('a conflicting conditional write is tried again', async () => {
    const { driver } = await fresh();
    fail({ op: 'PutObject', times: 1, status: 409, code: 'ConditionalRequestConflict' });
    expect(await driver.putContentIfAbsent('/claim', Buffer.from('me'))).toBe(true);
    expect((await driver.getContent('/claim')).toString()).toBe('me');
  });

  it('tells "S3 failed" from "not found"', async () => {
    const { driver } = await fresh();
    fail({ op: 'GetObject', status: 403, code: 'AccessDenied' });
    await expect(driver.getContent('/x')).rejects.toBeInstanceOf(StorageUnavailableError);
    removeFaults.pop()!();
    fail({ op: 'GetObject', status: 500 });
    await expect(driver.reader('/x')).rejects.toBeInstanceOf(StorageUnavailableError);
    removeFaults.pop()!();
    const noBucket = createS3Driver(s3().driverOptions({ bucket: 'no-such-bucket' }));
    await expect(noBucket.getContent('/x')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(noBucket.list('/x')).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('a cancel whose abort fails can be repeated', async () => {
    const { driver, prefix } = await fresh({ partSize: 5 * MiB });
    const writer = await driver.writer('/c', false);
    await writeSession(writer, randomBytes(5 * MiB));
    await writer.close();
    const again = await driver.writer('/c', true);
    fail({ op: 'AbortMultipartUpload', status: 500 });
    await expect(again.cancel()).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await s3().keys(`${prefix}~writers/`)).toHaveLength(1);
    removeFaults.pop()!();
    await again.cancel();
    expect(await s3().pendingUploads(prefix)).toEqual([]);
  });
});
