/**
 * Berth's own auth rules on proxied names: checked on the stored name (`up/library/busybox` for
 * `up/busybox`), before the upstream is asked anything; and read-only mode, where a cache serves
 * what it holds and fetches nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, bearer, getToken, startAuthServer } from '../helpers/auth-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { Client, errorCode, sha256 } from '../helpers/http.js';
import { proxyEntry, pushRandomImage, startProxyServer, type PushedImage } from '../helpers/proxy.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

describe('auth rules on proxied names', () => {
  let upstream: TestServer;
  let upstreamCleanup: () => Promise<void>;
  let fault: FaultProxy;
  let berth: AuthServer;
  let image: PushedImage;

  beforeAll(async () => {
    const made = await filesystemConfig();
    upstreamCleanup = made.cleanup;
    upstream = await startTestServer(made.config);
    image = await pushRandomImage(new Client(upstream.url), 'library/busybox', '1', [500]);
    fault = await startFaultProxy(upstream.url);
    berth = await startAuthServer((config) => {
      config.proxies = [proxyEntry({ prefix: 'up', url: fault.url, library: true })];
      // carol may pull the cache; team dev (alice, bob) may do everything there (but it is a cache).
      config.auth.rules.unshift({ repository: 'up/*', user: 'carol', actions: ['pull'] }, { repository: 'up/*', team: 'dev', actions: ['pull', 'push', 'delete'] });
    });
  });

  afterAll(async () => {
    await berth?.cleanup();
    await fault?.close();
    await upstream?.close();
    await upstreamCleanup?.();
  });

  it('challenges an anonymous caller and refuses one without rights, before asking the upstream', async () => {
    const anonymous = await berth.client.get('/v2/up/busybox/manifests/1');
    expect(anonymous.status).toBe(401);
    // The challenge names the stored repository: a client's next token covers it.
    expect(anonymous.headers.get('www-authenticate')).toContain('scope="repository:up/library/busybox:pull"');
    const dave = await getToken(berth.client, 'dave', ['repository:up/library/busybox:pull']);
    const refused = await berth.client.get('/v2/up/busybox/manifests/1', bearer(dave));
    expect([401, 403]).toContain(refused.status);
    expect(fault.seen.filter((s) => s.path.startsWith('/v2/'))).toEqual([]);
  });

  it('serves a caller the rules allow to pull', async () => {
    const carol = await getToken(berth.client, 'carol', ['repository:up/library/busybox:pull']);
    const reply = await berth.client.get('/v2/up/busybox/manifests/1', bearer(carol));
    expect(reply.status).toBe(200);
    expect(reply.body.equals(image.manifest)).toBe(true);
  });

  it('refuses pushes to the cache even to callers whose rules would allow them', async () => {
    const alice = await getToken(berth.client, 'alice', ['repository:up/library/busybox:pull,push']);
    const reply = await berth.client.request('POST', '/v2/up/library/busybox/blobs/uploads/', { headers: bearer(alice) });
    expect(reply.status).toBe(403);
    expect(errorCode(reply)).toBe('DENIED');
    expect(reply.json.errors[0].message).toContain(`pull-through cache of ${fault.url}`);
  });
});

describe('a pull-through cache in read-only mode', () => {
  let upstream: TestServer;
  let upstreamCleanup: () => Promise<void>;
  let image: PushedImage;

  beforeAll(async () => {
    const made = await filesystemConfig();
    upstreamCleanup = made.cleanup;
    upstream = await startTestServer(made.config);
    image = await pushRandomImage(new Client(upstream.url), 'lib/app', '1', [500]);
  });

  afterAll(async () => {
    await upstream?.close();
    await upstreamCleanup?.();
  });

  it('serves what it holds and fetches nothing', async () => {
    // Fill the cache, then serve the same storage read-only.
    const filling = await startProxyServer([proxyEntry({ prefix: 'up', url: upstream.url })]);
    const root = filling.root;
    try {
      expect((await filling.client.get('/v2/up/lib/app/manifests/1')).status).toBe(200);
    } finally {
      await filling.server.close();
    }
    const readOnly = await startProxyServer([proxyEntry({ prefix: 'up', url: upstream.url })], (config) => {
      config.readOnly = true;
      config.storage = { ...config.storage, filesystem: { root } };
    });
    try {
      const cached = await readOnly.client.get('/v2/up/lib/app/manifests/1');
      expect(cached.status).toBe(200);
      expect(cached.body.equals(image.manifest)).toBe(true);
      const cold = await readOnly.client.get(`/v2/up/lib/app/blobs/${sha256(image.layers[0]!)}`);
      expect(cold.status).toBe(405);
      expect(cold.json.errors[0].message).toContain('registry is in read-only mode');
    } finally {
      await readOnly.cleanup();
      await filling.cleanup();
    }
  });
});
