/**
 * The S3 driver against a real S3 server that fails: radosgw killed (SIGKILL, like a crash) while
 * a writer's multipart upload is under way, then started again on the same port. What must hold:
 * the write completes once the SDK's retries reach the gateway again, or it fails with a typed
 * error and can be cancelled; a write done again stores the right bytes; and nothing of an
 * unfinished write is ever visible at its path.
 *
 * Also what s3rver cannot show (it ignores `If-None-Match`): `putContentIfAbsent` on RGW lets
 * exactly one of many concurrent claims win, and RGW itself enforces the condition.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { type FileWriter, PathNotFoundError, type StorageDriver, StorageUnavailableError } from '../../storage-drivers/driver.js';
import { createS3Driver } from '../../storage-drivers/s3.js';
import { freshRgwDriver, rgwAvailable, useRgw } from '../helpers/rgw.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes one chunk and waits until the writer took it (a whole part: until S3 stored it). */
function write(writer: FileWriter, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => writer.write(chunk, (err) => (err ? reject(err) : resolve())));
}

function end(writer: FileWriter): Promise<void> {
  return new Promise((resolve) => writer.end(resolve));
}

/** Retries every failure but a client error, `attempts` times, `delayMs` apart: long enough to outlast a gateway restart. */
function patientRetries(attempts: number, delayMs: number): NonNullable<S3ClientConfig['retryStrategy']> {
  const token = (count: number) => ({ getRetryCount: () => count, getRetryDelay: () => delayMs });
  return {
    mode: 'standard',
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const count = previous.getRetryCount() + 1;
      if (info.errorType === 'CLIENT_ERROR' || count >= attempts) throw new Error('no more retries');
      return token(count);
    },
    recordSuccess: () => {},
  };
}

/**
 * Makes the next UploadPart of `client` send `first` bytes and then wait until `release()`: the
 * gateway can be killed while it is in the middle of receiving a part. It sits in the SDK's
 * deserialize step, inside the retry loop and after signing, so a retry sends the part normally.
 */
function stallNextPart(client: S3Client, first: number) {
  let armed = false;
  let attempts = 0;
  let reached!: () => void;
  let release!: () => void;
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { body?: unknown };
      if (context.commandName === 'UploadPartCommand' && (armed || attempts > 0)) attempts++;
      if (context.commandName === 'UploadPartCommand' && armed && request.body instanceof Uint8Array) {
        armed = false;
        const body = request.body;
        request.body = Readable.from(
          (async function* () {
            yield Buffer.from(body.subarray(0, first));
            reached();
            await released;
            yield Buffer.from(body.subarray(first));
          })(),
        );
      }
      return next(args);
    },
    { step: 'deserialize', name: 'stallNextPart' },
  );
  return { arm: () => (armed = true), reached: reachedPromise, release: () => release(), attempts: () => attempts };
}

describe.skipIf(!rgwAvailable())('S3 driver on RGW: faults and claims', { timeout: 60_000 }, () => {
  const rgw = useRgw();
  let cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    // A test that failed half-way may have left the gateway down.
    if (!rgw().gatewayRunning()) await rgw().startGateway();
    const pending = cleanups;
    cleanups = [];
    for (const cleanup of pending.reverse()) await cleanup();
  });

  async function fresh(config: Partial<S3ClientConfig> = {}): Promise<{ driver: StorageDriver; prefix: string; client: S3Client }> {
    const client = rgw().client({ requestHandler: { connectionTimeout: 5000 }, ...config });
    const made = await freshRgwDriver(rgw(), { partSize: PART, client });
    cleanups.push(async () => {
      await made.cleanup();
      client.destroy();
    });
    return { ...made, client };
  }

  /** Nothing of an unfinished write at `path`: no object, and its folder lists no such child. */
  async function expectNothingAt(driver: StorageDriver, path: string): Promise<void> {
    await expect(driver.stat(path)).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.reader(path)).rejects.toBeInstanceOf(PathNotFoundError);
    const folder = path.slice(0, path.lastIndexOf('/'));
    const children = await driver.list(folder).catch((err: unknown) => (err instanceof PathNotFoundError ? [] : Promise.reject(err)));
    expect(children).not.toContain(path);
  }

  it('a write whose gateway dies after two parts fails with a typed error; cancelled and written again, the bytes are right', async () => {
    const { driver, prefix } = await fresh(); // the SDK's own retries: a few, within a second
    const path = '/uploads/crash/data';
    const content = randomBytes(3 * PART + 1234);
    const writer = await driver.writer(path, false);
    const errors: unknown[] = [];
    writer.on('error', (err) => errors.push(err));
    await write(writer, content.subarray(0, PART));
    await write(writer, content.subarray(PART, 2 * PART));
    expect(await rgw().pendingUploads(prefix)).toEqual([`${prefix}uploads/crash/data`]);
    await expectNothingAt(driver, path);

    await rgw().stopGateway('SIGKILL');
    const failed = await write(writer, content.subarray(2 * PART, 3 * PART)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(StorageUnavailableError);
    await new Promise((resolve) => setImmediate(resolve)); // the stream's 'error' event comes after the callback
    expect(errors).toEqual([failed]);
    // A driver call while the gateway is down fails fast and typed, and does not hang.
    await expect(driver.stat(path)).rejects.toBeInstanceOf(StorageUnavailableError);

    await rgw().startGateway();
    await expectNothingAt(driver, path);
    await expect(writer.commit()).rejects.toThrow();
    await writer.cancel();
    expect(await rgw().pendingUploads(prefix)).toEqual([]);
    await expectNothingAt(driver, path);

    const again = await driver.writer(path, false);
    for (let offset = 0; offset < content.length; offset += PART) await write(again, content.subarray(offset, offset + PART));
    await end(again);
    await again.commit();
    expect(sha256(await readAll(await driver.reader(path)))).toBe(sha256(content));
    expect((await driver.stat(path)).size).toBe(content.length);
  });

  it('a part half-sent when the gateway dies is retried by the SDK, and the write completes once it is back', async () => {
    const { driver, client } = await fresh({ retryStrategy: patientRetries(60, 250) }); // up to 15 s
    const stall = stallNextPart(client, MiB);
    const path = '/uploads/retried/data';
    const content = randomBytes(3 * PART + 77);
    const writer = await driver.writer(path, false);
    await write(writer, content.subarray(0, PART));
    await write(writer, content.subarray(PART, 2 * PART));

    stall.arm();
    const third = write(writer, content.subarray(2 * PART, 3 * PART));
    await stall.reached; // RGW has taken the first MiB of part 3 and waits for the rest
    await rgw().stopGateway('SIGKILL');
    stall.release();
    await rgw().startGateway();
    await third;
    expect(stall.attempts()).toBeGreaterThan(1); // the half-sent attempt failed, a later one got through
    await expectNothingAt(driver, path);
    await write(writer, content.subarray(3 * PART));
    await end(writer);
    await writer.commit();
    expect(sha256(await readAll(await driver.reader(path)))).toBe(sha256(content));
  });

  it('a closed writer survives a gateway crash: appended to afterwards, it commits the right bytes', async () => {
    const { driver, prefix } = await fresh();
    const path = '/uploads/resumed/data';
    const content = randomBytes(2 * PART + 3 * MiB);
    const first = await driver.writer(path, false);
    await write(first, content.subarray(0, PART + 2 * MiB)); // one part, and a tail kept in the state object
    await end(first);
    await first.close();

    await rgw().stopGateway('SIGKILL');
    await expect(driver.writer(path, true)).rejects.toBeInstanceOf(StorageUnavailableError);
    await rgw().startGateway();

    expect(await rgw().pendingUploads(prefix)).toHaveLength(1);
    const second = await driver.writer(path, true);
    expect(second.size).toBe(PART + 2 * MiB);
    await write(second, content.subarray(PART + 2 * MiB));
    await end(second);
    await second.commit();
    expect(sha256(await readAll(await driver.reader(path)))).toBe(sha256(content));
  });

  it('a commit that meets a dead gateway fails; closed and committed again later, the bytes are right', async () => {
    const { driver } = await fresh();
    const path = '/uploads/commit/data';
    const content = randomBytes(PART + 999);
    const writer = await driver.writer(path, false);
    await write(writer, content);
    await end(writer);

    await rgw().stopGateway('SIGKILL');
    await expect(writer.commit()).rejects.toBeInstanceOf(StorageUnavailableError);
    await rgw().startGateway();
    await expectNothingAt(driver, path);

    // The failed commit keeps its parts and pending bytes: close() stores them, a later session commits.
    await writer.close();
    const later = await driver.writer(path, true);
    expect(later.size).toBe(content.length);
    await end(later);
    await later.commit();
    expect(sha256(await readAll(await driver.reader(path)))).toBe(sha256(content));
  });

  it('putContentIfAbsent: of many concurrent claims from separate clients, exactly one wins', async () => {
    const { prefix } = await fresh();
    const replicas = Array.from({ length: 8 }, () => {
      const client = rgw().client();
      cleanups.push(async () => client.destroy());
      return createS3Driver(rgw().driverOptions({ prefix, client }));
    });
    const [reader] = replicas as [StorageDriver];
    for (let round = 0; round < 5; round++) {
      const path = `/claims/round-${round}`;
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (replicas[i % replicas.length] as StorageDriver).putContentIfAbsent(path, Buffer.from(`claimant-${i}`))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await reader.getContent(path)).toString()).toBe(`claimant-${results.indexOf(true)}`);
    }
  });

  it('RGW itself enforces If-None-Match: * (not only the driver’s HEAD first): one of many raw PUTs succeeds', async () => {
    const { prefix } = await fresh();
    const client = rgw().client();
    cleanups.push(async () => client.destroy());
    const key = `${prefix}claims/raw`;
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        client.send(new PutObjectCommand({ Bucket: rgw().bucket, Key: key, Body: `raw-${i}`, IfNoneMatch: '*' })).then(
          () => 200,
          (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0,
        ),
      ),
    );
    expect(outcomes.filter((status) => status === 200)).toHaveLength(1);
    // Every loser was refused by the condition (412), or told of a concurrent conditional write (409).
    expect(outcomes.filter((status) => status !== 200 && status !== 412 && status !== 409)).toEqual([]);
    const again = await client
      .send(new PutObjectCommand({ Bucket: rgw().bucket, Key: key, Body: 'late', IfNoneMatch: '*' }))
      .then(
        () => 200,
        (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0,
      );
    expect(again).toBe(412);
  });
});
