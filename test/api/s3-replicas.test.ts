/**
 * Berth on S3 (s3rver) as several stateless replicas on one bucket (test/api/replicas-suite.ts),
 * storage faults answered with a retryable OCI error, presigned redirects, and the S3 requests one
 * image push costs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, errorCode, imageManifest, sha256, withQuery } from '../helpers/http.js';
import { s3Config } from '../helpers/s3-config.js';
import { useS3rver } from '../helpers/s3rver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runReplicaSuite } from './replicas-suite.js';

const MiB = 1024 * 1024;
const s3 = useS3rver();

runReplicaSuite('s3rver', () => s3Config(s3()));

describe('S3 faults', { timeout: 60_000 }, () => {
  let server: TestServer;
  let client: Client;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await s3Config(s3());
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    client = new Client(server.url);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('answers a failing S3 with 503 UNAVAILABLE, leaves no blob, and a retry succeeds', async () => {
    const data = randomBytes(2000);
    const digest = sha256(data);
    const stop = s3().fail({ op: 'PutObject', status: 500, code: 'InternalError' });
    const res = await client.request('POST', `/v2/faults/app/blobs/uploads/?digest=${digest}`, { body: data });
    stop();
    expect(res.status).toBe(503);
    expect(errorCode(res)).toBe('UNAVAILABLE');
    expect(res.body.toString()).not.toMatch(/InternalError|injected|at .*\.js/);
    expect((await client.head(`/v2/faults/app/blobs/${digest}`)).status).toBe(404);
    expect((await client.request('POST', `/v2/faults/app/blobs/uploads/?digest=${digest}`, { body: data })).status).toBe(201);
    expect((await client.get(`/v2/faults/app/blobs/${digest}`)).body.equals(data)).toBe(true);
  });

  it('keeps a multipart blob invisible when completing it fails, and takes the retried PUT', async () => {
    const data = randomBytes(11 * MiB);
    const digest = sha256(data);
    const location = await client.startUpload('faults/big');
    expect((await client.request('PATCH', location, { body: data })).status).toBe(202);
    const stop = s3().fail({ op: 'CompleteMultipartUpload', status: 503, code: 'SlowDown' });
    const failed = await client.request('PUT', withQuery(location, `digest=${digest}`));
    stop();
    expect(failed.status).toBe(503);
    expect(errorCode(failed)).toBe('UNAVAILABLE');
    expect((await client.head(`/v2/faults/big/blobs/${digest}`)).status).toBe(404);
    expect((await client.get(location)).headers.get('range')).toBe(`0-${data.length - 1}`);
    const retried = await client.request('PUT', withQuery(location, `digest=${digest}`));
    expect(retried.status).toBe(201);
    expect(sha256((await client.get(`/v2/faults/big/blobs/${digest}`)).body)).toBe(digest);
  });

  it('answers 503 quickly when S3 is unreachable', async () => {
    const made = await s3Config(s3(), (config) => {
      config.storage.s3.endpoint = 'http://127.0.0.1:9'; // discard port: nothing listens
    });
    const down = await startTestServer(made.config);
    const started = Date.now();
    const res = await new Client(down.url).get('/v2/nowhere/tags/list');
    expect(res.status).toBe(503);
    expect(errorCode(res)).toBe('UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(15_000);
    await down.close();
    await made.cleanup();
  });
});

describe('S3 redirects', { timeout: 60_000 }, () => {
  it('sends blob GETs to a presigned URL when asked to, except ranged ones', async () => {
    const made = await s3Config(s3(), (config) => {
      config.storage.s3.redirect = true;
      config.storage.s3.redirectExpiry = 60;
    });
    const server = await startTestServer(made.config);
    const client = new Client(server.url);
    try {
      const data = randomBytes(5000);
      const digest = await client.pushBlob('redirect/app', data);
      const res = await client.get(`/v2/redirect/app/blobs/${digest}`);
      expect(res.status).toBe(307);
      const target = res.headers.get('location')!;
      expect(target.startsWith(s3().endpoint)).toBe(true);
      expect(target).toMatch(/X-Amz-Expires=60/);
      expect(Buffer.from(await (await fetch(target)).arrayBuffer()).equals(data)).toBe(true);
      const ranged = await client.get(`/v2/redirect/app/blobs/${digest}`, { Range: 'bytes=10-19' });
      expect(ranged.status).toBe(206);
      expect(ranged.body.equals(data.subarray(10, 20))).toBe(true);
      expect((await client.get(`/v2/redirect/app/blobs/${sha256('other')}`)).status).toBe(404);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });
});

describe('S3 requests per image push', { timeout: 60_000 }, () => {
  it('pushes a 5-layer image without request storms', async () => {
    const made = await s3Config(s3(), (config) => {
      config.storage.s3.partSize = 16 * MiB;
    });
    const server = await startTestServer(made.config);
    const client = new Client(server.url);
    try {
      const name = 'counted/app';
      const requests = s3().requests;
      await new Promise((resolve) => setTimeout(resolve, 200)); // the server's start-up reads settle
      const before = requests.length;
      const layers: [string, number][] = [];
      for (const size of [1, 3, 8, 12, 20]) {
        const data = randomBytes(size * MiB);
        const digest = sha256(data);
        expect((await client.head(`/v2/${name}/blobs/${digest}`)).status).toBe(404);
        const location = await client.startUpload(name);
        const patch = await client.request('PATCH', location, { body: data });
        expect((await client.request('PUT', withQuery(patch.headers.get('location')!, `digest=${digest}`))).status).toBe(201);
        layers.push([digest, data.length]);
      }
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      const configDigest = await client.pushBlob(name, config);
      await client.pushManifest(name, 'v1', imageManifest([configDigest, config.length], layers));
      const counts: Record<string, number> = {};
      for (const request of requests.slice(before)) counts[request.op] = (counts[request.op] ?? 0) + 1;
      const total = requests.length - before;
      console.log(`S3 requests for a 5-layer image push (44 MiB, 16 MiB parts): ${total}`, counts);
      // Guards against request storms: measured 13 lists and 123 requests in all (one list per
      // finished upload's clean-up, two for its writer state and folder; six link reads for the
      // manifest push's check after writing, against gc running meanwhile).
      expect(counts.ListObjectsV2 ?? 0).toBeLessThanOrEqual(14);
      expect(total).toBeLessThanOrEqual(125);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });
});
