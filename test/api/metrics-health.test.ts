/** /metrics (counters move by exactly what was sent), /healthz, /readyz, and metrics on a listener of their own. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { PASSWORDS, startAuthServer, tokenReply } from '../helpers/auth-server.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { sample, samples } from '../helpers/prometheus.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

describe('metrics and probes', () => {
  let config: Config;
  let cleanup: () => Promise<void>;
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    ({ config, cleanup } = await filesystemConfig());
    server = await startTestServer(config);
    client = new Client(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup();
  });

  const scrape = async (): Promise<string> => {
    const reply = await client.get('/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return reply.body.toString();
  };

  it('/healthz and /readyz answer without credentials', async () => {
    const health = await client.get('/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    const ready = await client.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', checks: { storage: 'ok' } });
  });

  it('counts a push and a pull by exactly what was sent, labelled by route pattern', async () => {
    const before = await scrape();
    const name = 'team/secret-project';
    const whole = randomBytes(1000);
    const chunked = [randomBytes(3000), randomBytes(2000)];
    const chunkedBlob = Buffer.concat(chunked);
    await client.pushBlob(name, whole);
    const location = await client.startUpload(name);
    let offset = 0;
    for (const chunk of chunked) {
      const reply = await client.request('PATCH', location, {
        body: chunk,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
      });
      expect(reply.status).toBe(202);
      offset += chunk.length;
    }
    expect((await client.request('PUT', `${location}?digest=${sha256(chunkedBlob)}`)).status).toBe(201);
    await client.pushManifest(name, 'v1', imageManifest([sha256(whole), whole.length], [[sha256(chunkedBlob), chunkedBlob.length]]));
    expect((await client.get(`/v2/${name}/blobs/${sha256(whole)}`)).body).toEqual(whole);
    expect((await client.get(`/v2/${name}/blobs/${sha256(chunkedBlob)}`, { Range: 'bytes=0-99' })).status).toBe(206);
    expect((await client.head(`/v2/${name}/blobs/${sha256(chunkedBlob)}`)).status).toBe(200);
    expect((await client.get('/no/such/path')).status).toBe(404);
    const after = await scrape();

    const delta = (metric: string, labels: Record<string, string> = {}) => sample(after, metric, labels) - sample(before, metric, labels);
    expect(delta('berth_blob_bytes_total', { direction: 'in' })).toBe(1000 + 3000 + 2000);
    expect(delta('berth_blob_bytes_total', { direction: 'out' })).toBe(1000 + 100);
    const requests = (method: string, route: string, status: string) => delta('berth_http_requests_total', { method, route, status });
    expect(requests('POST', '/v2/*name/blobs/uploads/', '201')).toBe(1);
    expect(requests('POST', '/v2/*name/blobs/uploads/', '202')).toBe(1);
    expect(requests('PATCH', '/v2/*name/blobs/uploads/:uuid', '202')).toBe(2);
    expect(requests('PUT', '/v2/*name/blobs/uploads/:uuid', '201')).toBe(1);
    expect(requests('PUT', '/v2/*name/manifests/:reference', '201')).toBe(1);
    expect(requests('GET', '/v2/*name/blobs/:digest', '200')).toBe(1);
    expect(requests('GET', '/v2/*name/blobs/:digest', '206')).toBe(1);
    expect(requests('HEAD', '/v2/*name/blobs/:digest', '200')).toBe(1);
    expect(requests('GET', 'unmatched', '404')).toBe(1);
    expect(delta('berth_http_request_duration_seconds_count', { method: 'PATCH', route: '/v2/*name/blobs/uploads/:uuid' })).toBe(2);
    // Two blobs moved into place; their links and the manifest written.
    expect(delta('berth_storage_operations_total', { driver: 'filesystem', operation: 'move', result: 'ok' })).toBe(2);
    expect(delta('berth_storage_operation_duration_seconds_count', { driver: 'filesystem', operation: 'move' })).toBe(2);
    expect(sample(after, 'berth_uploads_in_progress')).toBe(0);

    // Bounded labels: no repository name, digest or raw path anywhere.
    expect(after).not.toContain('secret-project');
    expect(after).not.toContain(sha256(whole).slice(7, 20));
    expect(after).not.toContain('/no/such/path');
    const routes = new Set(samples(after).flatMap((s) => (s.labels.route ? [s.labels.route] : [])));
    for (const route of routes) expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
    // Node's own process metrics are there too.
    expect(sample(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(after, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts a blob upload as in progress while its body streams', async () => {
    const location = await client.startUpload('team/slow');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slowBody() {
      yield Buffer.alloc(1024, 1);
      await gate;
      yield Buffer.alloc(1024, 2);
    }
    const pending = client.request('PATCH', location, { body: slowBody(), headers: { 'Content-Type': 'application/octet-stream' } });
    let during = 0;
    for (let i = 0; i < 50 && during === 0; i++) {
      during = sample(await scrape(), 'berth_uploads_in_progress');
      if (during === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    release();
    expect((await pending).status).toBe(202);
    expect(during).toBe(1);
    expect(sample(await scrape(), 'berth_uploads_in_progress')).toBe(0);
  });

  it('counts sign-ins by result', async () => {
    const s = await startAuthServer();
    try {
      await tokenReply(s.client, 'alice', ['repository:team-a/app:pull'], PASSWORDS.alice);
      await tokenReply(s.client, 'alice', ['repository:team-a/app:pull'], 'wrong password');
      await tokenReply(s.client, 'bob', ['repository:team-a/app:pull'], 'wrong again');
      const text = (await s.client.get('/metrics')).body.toString();
      expect(sample(text, 'berth_auth_logins_total', { result: 'success' })).toBe(1);
      expect(sample(text, 'berth_auth_logins_total', { result: 'failure' })).toBe(2);
      expect(text).not.toContain('alice');
    } finally {
      await s.cleanup();
    }
  });

  it('serves /metrics on metrics.listen alone when it is set', async () => {
    const own = await filesystemConfig((c) => (c.metrics.listen = '127.0.0.1:0'));
    const s = await startTestServer(own.config);
    try {
      expect(s.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const main = new Client(s.url);
      expect((await main.get('/metrics')).status).toBe(404);
      const reply = await fetch(s.metricsUrl!);
      expect(reply.status).toBe(200);
      expect(await reply.text()).toContain('berth_http_requests_total');
      expect((await fetch(s.metricsUrl!.replace('/metrics', '/v2/'))).status).toBe(404);
    } finally {
      await s.close();
      await own.cleanup();
    }
  });

  it('serves no /metrics with metrics.enabled: false', async () => {
    const off = await filesystemConfig((c) => (c.metrics.enabled = false));
    const s = await startTestServer(off.config);
    try {
      expect((await new Client(s.url).get('/metrics')).status).toBe(404);
    } finally {
      await s.close();
      await off.cleanup();
    }
  });
});
