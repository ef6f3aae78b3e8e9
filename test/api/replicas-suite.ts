/**
 * Several stateless Berth replicas on one bucket: a chunked upload moved between them, and one
 * replica's pushes seen on the other. Run on s3rver (test/api/s3-replicas.test.ts) and on a real
 * RADOS Gateway (test/api/rgw-robust.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { Client, imageManifest, sha256, withQuery } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

export function runReplicaSuite(label: string, makeConfig: () => Promise<{ config: Config; cleanup: () => Promise<void> }>): void {
  describe(`replicas on one bucket (${label})`, { timeout: 60_000 }, () => {
    let a: TestServer;
    let b: TestServer;
    let clientA: Client;
    let clientB: Client;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const made = await makeConfig();
      cleanup = made.cleanup;
      a = await startTestServer(made.config);
      b = await startTestServer(made.config);
      clientA = new Client(a.url);
      clientB = new Client(b.url);
    });

    afterAll(async () => {
      await a?.close();
      await b?.close();
      await cleanup?.();
    });

    it('finishes a chunked upload moved between replicas, and serves it from both', async () => {
      const data = randomBytes(13 * MiB + 5);
      const digest = sha256(data);
      const post = await clientA.request('POST', '/v2/replicas/app/blobs/uploads/');
      expect(post.status).toBe(202);
      expect(post.headers.get('oci-chunk-min-length')).toBe(String(5 * MiB));
      const location = post.headers.get('location')!;

      const one = await clientB.request('PATCH', location, { body: data.subarray(0, 6 * MiB), headers: { 'Content-Range': `0-${6 * MiB - 1}` } });
      expect(one.status).toBe(202);
      const two = await clientA.request('PATCH', location, {
        body: data.subarray(6 * MiB, 12 * MiB),
        headers: { 'Content-Range': `${6 * MiB}-${12 * MiB - 1}` },
      });
      expect(two.status).toBe(202);
      expect((await clientB.get(location)).headers.get('range')).toBe(`0-${12 * MiB - 1}`);
      const stale = await clientB.request('PATCH', location, { body: data.subarray(0, 10), headers: { 'Content-Range': '0-9' } });
      expect(stale.status).toBe(416);

      const put = await clientB.request('PUT', withQuery(location, `digest=${digest}`), { body: data.subarray(12 * MiB) });
      expect(put.status).toBe(201);
      expect(b.logs.some((line) => String(line.msg).includes('re-hashing'))).toBe(true);
      for (const client of [clientA, clientB]) {
        const got = await client.get(`/v2/replicas/app/blobs/${digest}`);
        expect(got.status).toBe(200);
        expect(sha256(got.body)).toBe(digest);
      }
      expect((await clientA.get(location)).status).toBe(404);
    });

    it('shows one replica’s pushes on the other', async () => {
      const config = await clientA.pushBlob('replicas/web', '{"os":"linux"}');
      const layer = await clientA.pushBlob('replicas/web', randomBytes(1000));
      await clientB.pushManifest('replicas/web', 'v1', imageManifest([config, 14], [[layer, 1000]]));
      expect((await clientA.get('/v2/replicas/web/tags/list')).json.tags).toEqual(['v1']);
      expect((await clientA.get('/v2/_catalog')).json.repositories).toEqual(expect.arrayContaining(['replicas/app', 'replicas/web']));
      expect((await clientB.delete('/v2/replicas/web/manifests/v1')).status).toBe(202);
      expect((await clientA.get('/v2/replicas/web/manifests/v1')).status).toBe(404);
    });
  });
}
