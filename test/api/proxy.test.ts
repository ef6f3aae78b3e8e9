/**
 * The pull-through cache against a real upstream: another Berth with token auth on, behind the
 * fault-injecting proxy (which counts every request the upstream gets). Pulls through with the
 * token dance (with credentials and anonymously), tags revalidated after their TTL, manifests by
 * digest never, writes refused, credentials kept to the upstream, and the metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, bearer, getToken, logText, PASSWORDS, startAuthServer } from '../helpers/auth-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { Client, errorCode, imageManifest, sha256 } from '../helpers/http.js';
import { blobStored, proxyEntry, pushRandomImage, startProxyServer, type ProxyServer, type PushedImage } from '../helpers/proxy.js';

describe('pull-through cache of a registry with token auth', () => {
  let upstream: AuthServer;
  let fault: FaultProxy;
  let berth: ProxyServer;
  let pusher: Client;
  let app: PushedImage;
  let tool: PushedImage;

  const upstreamRequests = (): number => fault.seen.filter((s) => s.path.startsWith('/v2/')).length;

  beforeAll(async () => {
    upstream = await startAuthServer();
    const token = await getToken(upstream.client, 'alice', ['repository:team-a/app:push,pull', 'repository:public/tool:push,pull']);
    pusher = new Client(upstream.server.url, bearer(token));
    app = await pushRandomImage(pusher, 'team-a/app', '1', [5000, 70_000]);
    tool = await pushRandomImage(pusher, 'public/tool', '1', [3000]);
    fault = await startFaultProxy(upstream.server.url);
    berth = await startProxyServer([
      // carol may pull team-a/* upstream; the proxy signs in as her.
      proxyEntry({ prefix: 'up', url: fault.url, username: 'carol', password: PASSWORDS.carol!, tagTtl: '1h' }),
      proxyEntry({ prefix: 'anon', url: fault.url, tagTtl: '1h' }),
      proxyEntry({ prefix: 'fresh', url: fault.url, username: 'carol', password: PASSWORDS.carol!, tagTtl: '0' }),
    ]);
  });

  afterAll(async () => {
    await berth?.cleanup();
    await fault?.close();
    await upstream?.cleanup();
  });

  it('pulls a manifest and its blobs through, signing in with the token dance, and then serves them from storage', async () => {
    const manifest = await berth.client.get('/v2/up/team-a/app/manifests/1');
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(app.digest);
    expect(manifest.body.equals(app.manifest)).toBe(true);
    for (const blob of [app.config, ...app.layers]) {
      const got = await berth.client.get(`/v2/up/team-a/app/blobs/${sha256(blob)}`);
      expect(got.status).toBe(200);
      expect(got.body.equals(blob)).toBe(true);
      expect(await blobStored(berth.root, sha256(blob))).toBe(true);
    }
    // The upstream asked for a token, and Berth fetched one through its realm.
    expect(fault.count('GET', (p) => p.startsWith('/token?'))).toBeGreaterThan(0);

    const before = upstreamRequests();
    expect((await berth.client.get('/v2/up/team-a/app/manifests/1')).body.equals(app.manifest)).toBe(true);
    expect((await berth.client.head('/v2/up/team-a/app/manifests/1')).status).toBe(200);
    expect((await berth.client.get(`/v2/up/team-a/app/blobs/${sha256(app.layers[1]!)}`)).body.equals(app.layers[1]!)).toBe(true);
    expect(upstreamRequests()).toBe(before);
    // Stored under the prefix like any repository: the catalog lists it.
    expect((await berth.client.get('/v2/_catalog')).json.repositories).toContain('up/team-a/app');
  });

  it('pulls anonymously where the upstream allows it, and names the upstream when it refuses', async () => {
    const manifest = await berth.client.get('/v2/anon/public/tool/manifests/1');
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(tool.manifest)).toBe(true);
    const refused = await berth.client.get('/v2/anon/team-a/app/manifests/1');
    expect(refused.status).toBe(502);
    expect(errorCode(refused)).toBe('UNAVAILABLE');
    expect(refused.json.errors[0].message).toContain(`upstream ${fault.url} answered 401`);
    expect(refused.json.errors[0].detail).toMatchObject({ upstream: fault.url, status: 401 });
  });

  it('trusts a tag for its TTL, then revalidates it with one HEAD and serves the digest it moved to', async () => {
    const first = await berth.client.get('/v2/fresh/team-a/app/manifests/1');
    expect(first.headers.get('docker-content-digest')).toBe(app.digest);
    const moved = await pushRandomImage(pusher, 'team-a/app', '1', [1234]);
    try {
      // TTL 1h: the old digest, and the upstream is not asked.
      const before = upstreamRequests();
      expect((await berth.client.get('/v2/up/team-a/app/manifests/1')).headers.get('docker-content-digest')).toBe(app.digest);
      expect(upstreamRequests()).toBe(before);
      // TTL 0: a HEAD finds the new digest, which is fetched by digest and served.
      const heads = fault.count('HEAD', (p) => p === '/v2/team-a/app/manifests/1');
      const again = await berth.client.get('/v2/fresh/team-a/app/manifests/1');
      expect(again.headers.get('docker-content-digest')).toBe(moved.digest);
      expect(again.body.equals(moved.manifest)).toBe(true);
      expect(fault.count('HEAD', (p) => p === '/v2/team-a/app/manifests/1')).toBe(heads + 1);
      expect(fault.count('GET', (p) => p === `/v2/team-a/app/manifests/${moved.digest}`)).toBe(1);
      // Unchanged upstream: the HEAD alone.
      const gets = fault.count('GET', (p) => p.includes('/manifests/'));
      expect((await berth.client.get('/v2/fresh/team-a/app/manifests/1')).headers.get('docker-content-digest')).toBe(moved.digest);
      expect(fault.count('GET', (p) => p.includes('/manifests/'))).toBe(gets);
    } finally {
      // Put the tag back for the other tests.
      await pusher.request('PUT', '/v2/team-a/app/manifests/1', { body: app.manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    }
  });

  it('never revalidates a manifest pulled by digest', async () => {
    expect((await berth.client.get(`/v2/fresh/team-a/app/manifests/${app.digest}`)).status).toBe(200);
    const before = upstreamRequests();
    const again = await berth.client.get(`/v2/fresh/team-a/app/manifests/${app.digest}`);
    expect(again.status).toBe(200);
    expect(again.body.equals(app.manifest)).toBe(true);
    expect(upstreamRequests()).toBe(before);
  });

  it('answers a HEAD of a cold blob with its size from the upstream, without downloading it', async () => {
    const blob = await pushRandomImage(pusher, 'team-a/app', 'head-only', [4321]);
    const digest = sha256(blob.layers[0]!);
    const head = await berth.client.head(`/v2/up/team-a/app/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('4321');
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect(fault.count('GET', (p) => p.endsWith(digest))).toBe(0);
    expect(await blobStored(berth.root, digest)).toBe(false);
  });

  it('refuses pushes and deletes under a proxied prefix with DENIED naming the upstream, without asking it', async () => {
    const before = fault.seen.length;
    const blob = Buffer.from('not for the cache');
    const attempts = [
      await berth.client.request('POST', `/v2/up/team-a/app/blobs/uploads/?digest=${sha256(blob)}`, { body: blob }),
      await berth.client.request('POST', '/v2/up/team-a/new/blobs/uploads/'),
      await berth.client.request('PUT', '/v2/up/team-a/app/manifests/2', {
        body: JSON.stringify(imageManifest([sha256(blob), blob.length], [])),
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      }),
      await berth.client.request('DELETE', `/v2/up/team-a/app/manifests/${app.digest}`),
      await berth.client.request('DELETE', `/v2/up/team-a/app/blobs/${sha256(app.config)}`),
    ];
    for (const reply of attempts) {
      expect(reply.status).toBe(403);
      expect(errorCode(reply)).toBe('DENIED');
      expect(reply.json.errors[0].message).toBe(`up/ is a pull-through cache of ${fault.url}: pushes and deletes are refused; push to a repository outside it`);
    }
    expect(fault.seen.length).toBe(before);
    // Outside the prefixes, a normal repository.
    expect((await berth.client.request('POST', `/v2/own/app/blobs/uploads/?digest=${sha256(blob)}`, { body: blob })).status).toBe(201);
  });

  it('keeps the upstream credentials and tokens to itself: not in any answer, not in the log', async () => {
    const replies = [
      await berth.client.get('/v2/up/team-a/app/manifests/1'),
      await berth.client.get('/v2/up/team-a/nothing/manifests/1'),
      await berth.client.get('/v2/anon/team-a/app/manifests/1'),
    ];
    const text = [...replies.map((r) => `${[...r.headers].join(' ')} ${r.body.toString()}`), logText(berth.server)].join('\n');
    expect(text).not.toContain(PASSWORDS.carol);
    expect(text).not.toContain(Buffer.from(`carol:${PASSWORDS.carol}`).toString('base64'));
    expect(text).not.toMatch(/Bearer [A-Za-z0-9_-]{20,}/);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/); // a JWT
  });

  it('counts hits, misses and upstream errors in the metrics, labelled by prefix', async () => {
    const text = (await berth.client.get('/metrics')).body.toString();
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="up",kind="manifest",result="hit"\} [1-9]/);
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="up",kind="manifest",result="miss"\} [1-9]/);
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="up",kind="blob",result="miss"\} [1-9]/);
    expect(text).toMatch(/berth_proxy_upstream_errors_total\{proxy="anon",reason="status_401"\} [1-9]/);
    expect(text).toMatch(/berth_proxy_upstream_bytes_total\{proxy="up"\} [1-9]\d{4,}/);
    expect(text).not.toContain('team-a/app');
  });
});
