/**
 * The pull-through cache when the upstream misbehaves (a real Berth upstream behind the
 * fault-injecting proxy): 429 and 5xx, hangs past the timeout, reset connections, bodies cut
 * short and bytes that do not match their digest; and twenty clients at once asking for one cold
 * blob, counted at the upstream.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { Client, errorCode, sha256 } from '../helpers/http.js';
import { blobStored, layerLinked, proxyEntry, pushRandomImage, startProxyServer, type ProxyServer, type PushedImage } from '../helpers/proxy.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

describe('pull-through cache with a failing upstream', () => {
  let upstream: TestServer;
  let upstreamCleanup: () => Promise<void>;
  let fault: FaultProxy;
  let berth: ProxyServer;
  let pusher: Client;
  let image: PushedImage;

  const manifestPath = (name: string, reference: string): string => `/v2/${name}/manifests/${reference}`;
  const uploadsLeft = async (repository: string): Promise<string[]> => readdir(join(berth.root, 'repositories', repository, '_uploads')).catch(() => []);

  beforeAll(async () => {
    const made = await filesystemConfig();
    upstreamCleanup = made.cleanup;
    upstream = await startTestServer(made.config);
    pusher = new Client(upstream.url);
    image = await pushRandomImage(pusher, 'lib/app', '1', [2000]);
    fault = await startFaultProxy(upstream.url);
    // tagTtl 0: every pull of a tag asks the upstream (the failures below are met on each).
    berth = await startProxyServer([proxyEntry({ prefix: 'up', url: fault.url, tagTtl: '0', timeout: '1s' })]);
    expect((await berth.client.get('/v2/up/lib/app/manifests/1')).status).toBe(200);
  });

  afterEach(() => {
    fault.fault = () => undefined;
  });

  afterAll(async () => {
    await berth?.cleanup();
    await fault?.close();
    await upstream?.close();
    await upstreamCleanup?.();
  });

  for (const [label, injected, status] of [
    ['429', { kind: 'status', status: 429, headers: { 'Retry-After': '7' } }, 429],
    ['503', { kind: 'status', status: 503 }, 502],
    ['a hang past the timeout', { kind: 'hang' }, 504],
    ['a reset connection', { kind: 'reset' }, 502],
  ] as const) {
    it(`serves a cached tag when the upstream answers ${label}, and fails a cold miss naming the answer`, async () => {
      const cold = await pushRandomImage(pusher, 'lib/app', `cold-${label.replace(/\W/g, '')}`, [100]);
      fault.fault = (req) => (req.path.startsWith('/v2/lib/app/manifests/') ? injected : undefined);
      const logsBefore = berth.server.logs.length;

      const cached = await berth.client.get(manifestPath('up/lib/app', '1'));
      expect(cached.status).toBe(200);
      expect(cached.body.equals(image.manifest)).toBe(true);
      const warned = berth.server.logs.slice(logsBefore).find((l) => l.msg === 'proxy: upstream failed, serving the cached copy');
      expect(warned).toMatchObject({ repository: 'up/lib/app', tag: '1', digest: image.digest });

      const miss = await berth.client.get(manifestPath('up/lib/app', cold.tag));
      expect(miss.status).toBe(status);
      expect(miss.json.errors[0].message).toContain(`upstream ${fault.url}`);
      expect(miss.json.errors[0].message).toContain('nothing of it is cached here yet');
      if (status === 429) {
        expect(errorCode(miss)).toBe('TOOMANYREQUESTS');
        expect(miss.headers.get('retry-after')).toBe('7');
      }
      if (injected.kind === 'status') expect(miss.json.errors[0].message).toContain(`answered ${injected.status}`);
      if (injected.kind === 'hang') expect(miss.json.errors[0].message).toContain('did not answer in time');
    });
  }

  it('counts stale serves and upstream errors by reason', async () => {
    const text = (await berth.client.get('/metrics')).body.toString();
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="up",kind="manifest",result="stale"\} [1-9]/);
    for (const reason of ['status_429', 'status_5xx', 'timeout', 'unreachable']) {
      expect(text).toMatch(new RegExp(`berth_proxy_upstream_errors_total\\{proxy="up",reason="${reason}"\\} [1-9]`));
    }
  });

  for (const [label, kind] of [
    ['cut short', 'truncate'],
    ['with a wrong byte', 'corrupt'],
  ] as const) {
    it(`fails the pull of a blob the upstream sends ${label}, stores nothing, and succeeds once the fault is gone`, async () => {
      const fresh = await pushRandomImage(pusher, 'lib/app', `blob-${kind}`, [300_000]);
      const digest = sha256(fresh.layers[0]!);
      fault.fault = (req) => (req.method === 'GET' && req.path.endsWith(digest) ? { kind } : undefined);
      let failed: Buffer | Error;
      try {
        failed = Buffer.from(await (await fetch(`${berth.server.url}/v2/up/lib/app/blobs/${digest}`)).arrayBuffer());
      } catch (err) {
        failed = err as Error;
      }
      // The client gets an error or fewer bytes than the blob: never the whole, never bad bytes passed as good.
      if (Buffer.isBuffer(failed)) {
        expect(failed.length).toBeLessThan(fresh.layers[0]!.length);
      } else {
        expect(failed).toBeInstanceOf(Error);
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(await blobStored(berth.root, digest)).toBe(false);
      expect(await layerLinked(berth.root, 'up/lib/app', digest)).toBe(false);
      expect(await uploadsLeft('up/lib/app')).toEqual([]);

      fault.fault = () => undefined;
      const good = await berth.client.get(`/v2/up/lib/app/blobs/${digest}`);
      expect(good.status).toBe(200);
      expect(good.body.equals(fresh.layers[0]!)).toBe(true);
      expect(await blobStored(berth.root, digest)).toBe(true);
    });
  }

  it('refuses a manifest whose bytes do not match the digest asked for, and stores nothing', async () => {
    const fresh = await pushRandomImage(pusher, 'lib/app', 'manifest-corrupt', [10]);
    fault.fault = (req) => (req.method === 'GET' && req.path.includes('/manifests/') ? { kind: 'corrupt' } : undefined);
    const bad = await berth.client.get(manifestPath('up/lib/app', fresh.digest));
    expect(bad.status).toBe(502);
    expect(bad.json.errors[0].message).toMatch(/whose bytes hash to sha256:[0-9a-f]{64}, not sha256:/);
    expect(await blobStored(berth.root, fresh.digest)).toBe(false);
    fault.fault = () => undefined;
    const good = await berth.client.get(manifestPath('up/lib/app', fresh.digest));
    expect(good.status).toBe(200);
    expect(good.body.equals(fresh.manifest)).toBe(true);
  });

  it('makes one upstream request for a cold blob twenty clients ask for at once, and gives each the whole blob', async () => {
    // Larger than a fill's window in memory (8 MiB): readers that fall behind read on from storage.
    const big = await pushRandomImage(pusher, 'lib/app', 'crowd', [9 * 1024 * 1024]);
    const digest = sha256(big.layers[0]!);
    const bodies = await Promise.all(Array.from({ length: 20 }, () => berth.client.get(`/v2/up/lib/app/blobs/${digest}`)));
    for (const reply of bodies) {
      expect(reply.status).toBe(200);
      expect(reply.body.equals(big.layers[0]!)).toBe(true);
    }
    expect(fault.count('GET', (p) => p === `/v2/lib/app/blobs/${digest}`)).toBe(1);
    expect(fault.count('HEAD', (p) => p === `/v2/lib/app/blobs/${digest}`)).toBe(0);
  });
});
