/**
 * How the pull-through cache names things (a real Berth upstream behind the counting proxy):
 * Docker Hub's `library/` for one-part names, the proxy without prefix beside the team's own
 * repositories, containerd's `?ns=`, tag lists and referrers through, indexes, a blob known here
 * under another repository, eviction by gc, and syncs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evictUnpulled } from '../../src/proxy/evict.js';
import { SyncSchedule } from '../../src/proxy/sync.js';
import { PullTimes } from '../../src/proxy/state.js';
import { collectGarbage } from '../../src/registry/gc.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { Client, errorCode, sha256 } from '../helpers/http.js';
import { blobStored, layerLinked, proxyEntry, pushRandomImage, startProxyServer, type ProxyServer, type PushedImage } from '../helpers/proxy.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

describe('pull-through cache names, lists, eviction and sync', () => {
  let upstream: TestServer;
  let upstreamCleanup: () => Promise<void>;
  let fault: FaultProxy;
  let berth: ProxyServer;
  let pusher: Client;
  let busybox: PushedImage;
  let signatureDigest: string;
  let armLayer: Buffer;

  beforeAll(async () => {
    const made = await filesystemConfig();
    upstreamCleanup = made.cleanup;
    upstream = await startTestServer(made.config);
    pusher = new Client(upstream.url);
    busybox = await pushRandomImage(pusher, 'library/busybox', '1', [1000]);
    fault = await startFaultProxy(upstream.url);
    berth = await startProxyServer(
      [
        proxyEntry({ prefix: 'hub', url: fault.url, library: true, evictAfter: '2h', sync: ['busybox:1', 'acme/multi:1'], syncPlatforms: ['linux/arm64'] }),
        proxyEntry({ prefix: '', url: fault.url, library: true }),
      ],
      (config) => {
        config.mirrors.namespaces = true;
      },
    );
  });

  afterAll(async () => {
    await berth?.cleanup();
    await fault?.close();
    await upstream?.close();
    await upstreamCleanup?.();
  });

  it('stores a pull of hub/busybox as hub/library/busybox, the one repository both spellings reach', async () => {
    const short = await berth.client.get('/v2/hub/busybox/manifests/1');
    expect(short.status).toBe(200);
    expect(short.body.equals(busybox.manifest)).toBe(true);
    const before = fault.seen.length;
    const long = await berth.client.get('/v2/hub/library/busybox/manifests/1');
    expect(long.body.equals(busybox.manifest)).toBe(true);
    expect(fault.seen.length).toBe(before);
    const repositories = (await berth.client.get('/v2/_catalog')).json.repositories as string[];
    expect(repositories).toContain('hub/library/busybox');
    expect(repositories).not.toContain('hub/busybox');
    // The blob through the short name lands in the same repository.
    expect((await berth.client.get(`/v2/hub/busybox/blobs/${sha256(busybox.layers[0]!)}`)).status).toBe(200);
    expect((await berth.client.get(`/v2/hub/library/busybox/blobs/${sha256(busybox.layers[0]!)}`)).status).toBe(200);
  });

  it('serves containerd ?ns= requests through the proxy whose upstream is that host, and 404s an unknown one', async () => {
    const viaNs = await berth.client.get(`/v2/library/busybox/manifests/1?ns=${fault.host}`);
    expect(viaNs.status).toBe(200);
    expect(viaNs.body.equals(busybox.manifest)).toBe(true);
    const unknown = await berth.client.get('/v2/library/busybox/manifests/1?ns=quay.io');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('NAME_UNKNOWN');
    expect(unknown.json.errors[0].message).toBe('no proxy here pulls from quay.io (mirrors.namespaces)');
  });

  it('lets the proxy without prefix fill names nobody pushed, beside the team repositories it never touches', async () => {
    const own = await pushRandomImage(berth.client, 'team/own', '1', [50]);
    const before = fault.seen.length;
    const local = await berth.client.get('/v2/team/own/manifests/1');
    expect(local.body.equals(own.manifest)).toBe(true);
    expect(fault.seen.length).toBe(before);
    // Docker's registry-mirrors asks for library/busybox; a bare name is Docker Hub's library/ too.
    const mirrored = await berth.client.get('/v2/busybox/manifests/1');
    expect(mirrored.status).toBe(200);
    expect(mirrored.body.equals(busybox.manifest)).toBe(true);
    expect((await berth.client.get('/v2/_catalog')).json.repositories).toContain('library/busybox');
    // What it filled is a cache: pushes there are refused; the team's repository takes them.
    const refused = await berth.client.request('POST', '/v2/library/busybox/blobs/uploads/');
    expect(refused.status).toBe(403);
    expect(refused.json.errors[0].message).toBe(`this repository is a pull-through cache of ${fault.url}: pushes and deletes are refused; push to a repository outside it`);
    expect((await berth.client.request('POST', '/v2/team/own/blobs/uploads/')).status).toBe(202);
  });

  it('lists tags from the upstream under the stored name, with the next page linked here', async () => {
    await pushRandomImage(pusher, 'library/busybox', '2', [10]);
    await pushRandomImage(pusher, 'library/busybox', '3', [10]);
    const all = await berth.client.get('/v2/hub/busybox/tags/list');
    expect(all.status).toBe(200);
    expect(all.json).toEqual({ name: 'hub/library/busybox', tags: ['1', '2', '3'] });
    const page = await berth.client.get('/v2/hub/library/busybox/tags/list?n=1');
    expect(page.json.tags).toEqual(['1']);
    expect(page.headers.get('link')).toBe('</v2/hub/library/busybox/tags/list?n=1&last=1>; rel="next"');
  });

  it('pulls a multi-platform index and its children through', async () => {
    const amd = await pushRandomImage(pusher, 'acme/multi', 'amd', [700]);
    const arm = await pushRandomImage(pusher, 'acme/multi', 'arm', [800]);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    expect((await pusher.request('PUT', '/v2/acme/multi/manifests/1', { body: index, headers: { 'Content-Type': OCI_INDEX } })).status).toBe(201);
    const got = await berth.client.get('/v2/hub/acme/multi/manifests/1', { Accept: OCI_INDEX });
    expect(got.status).toBe(200);
    expect(got.body.equals(index)).toBe(true);
    const child = await berth.client.get(`/v2/hub/acme/multi/manifests/${arm.digest}`);
    expect(child.body.equals(arm.manifest)).toBe(true);
    const layer = await berth.client.get(`/v2/hub/acme/multi/blobs/${sha256(arm.layers[0]!)}`);
    expect(layer.body.equals(arm.layers[0]!)).toBe(true);
    armLayer = arm.layers[0]!;
  });

  it('fetches referrers through, and then the referrer itself by digest', async () => {
    const config = Buffer.from('{}');
    await pusher.pushBlob('library/busybox', config);
    const signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
        layers: [],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: busybox.digest, size: busybox.manifest.length },
      }),
    );
    expect((await pusher.request('PUT', `/v2/library/busybox/manifests/${sha256(signature)}`, { body: signature, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(201);
    const list = await berth.client.get(`/v2/hub/busybox/referrers/${busybox.digest}?artifactType=application/vnd.example.signature`);
    expect(list.status).toBe(200);
    expect(list.json.manifests).toEqual([expect.objectContaining({ digest: sha256(signature), artifactType: 'application/vnd.example.signature' })]);
    expect(list.headers.get('oci-filters-applied')).toBe('artifactType');
    const referrer = await berth.client.get(`/v2/hub/busybox/manifests/${sha256(signature)}`);
    expect(referrer.body.equals(signature)).toBe(true);
    signatureDigest = sha256(signature);
  });

  it('serves a blob stored for another repository only once its own upstream confirms it has it', async () => {
    const secret = await pushRandomImage(berth.client, 'team/secret', '1', [600]);
    const digest = sha256(secret.layers[0]!);
    // Stored here (team/secret), but the upstream has no such blob in library/busybox.
    const refused = await berth.client.get(`/v2/hub/busybox/blobs/${digest}`);
    expect(refused.status).toBe(404);
    expect(errorCode(refused)).toBe('BLOB_UNKNOWN');
    expect(refused.json.errors[0].message).toContain('answered 404');
    // One the upstream does have is linked from what is stored, without a download.
    const shared = await pushRandomImage(pusher, 'acme/other', '1', [900]);
    const layer = sha256(shared.layers[0]!);
    await pusher.pushBlob('library/busybox', shared.layers[0]!);
    expect((await berth.client.get(`/v2/hub/acme/other/blobs/${layer}`)).status).toBe(200);
    const gets = fault.count('GET', (p) => p.endsWith(layer));
    const linked = await berth.client.get(`/v2/hub/busybox/blobs/${layer}`);
    expect(linked.body.equals(shared.layers[0]!)).toBe(true);
    expect(fault.count('GET', (p) => p.endsWith(layer))).toBe(gets);
  });

  it('lets gc evict what was not pulled for evictAfter, and pulls it again when asked', async () => {
    const registry = berth.server.app.registry;
    const proxies = [
      { ...proxyEntry({ prefix: 'hub', url: fault.url }), evictAfter: '2h' },
      proxyEntry({ prefix: '', url: fault.url }),
    ];
    // Recorded pull times are at most an hour old: nothing goes now.
    expect((await evictUnpulled(registry, proxies, { dryRun: false })).manifests).toBe(0);
    const later = Date.now() + 3 * 3_600_000;
    const evicted: string[] = [];
    const report = await evictUnpulled(registry, proxies, { dryRun: false, now: later, onItem: (item) => evicted.push(`${item.repository}@${item.digest}`) });
    expect(evicted).toContain(`hub/library/busybox@${busybox.digest}`);
    expect(evicted.every((item) => item.startsWith('hub/'))).toBe(true);
    expect(report.manifests).toBe(evicted.length);
    // gc frees the blobs nothing references any more (busybox's layer stays: the cache of the
    // proxy without prefix, library/busybox, still references it).
    await collectGarbage(registry.driver, { dryRun: false, graceMs: 0, uploadTtlMs: 0, now: new Date(later) });
    expect(await blobStored(berth.root, sha256(armLayer))).toBe(false);
    expect(await layerLinked(berth.root, 'hub/library/busybox', sha256(busybox.layers[0]!))).toBe(false);
    expect(await blobStored(berth.root, sha256(busybox.layers[0]!))).toBe(true);
    expect(await new PullTimes(registry.driver).lastPulled('hub/library/busybox', busybox.digest)).toBeUndefined();
    // The team's repository and the cache of the proxy without evictAfter stay.
    expect((await berth.client.get('/v2/team/own/manifests/1')).status).toBe(200);
    expect((await berth.client.get(`/v2/library/busybox/blobs/${sha256(busybox.layers[0]!)}`)).status).toBe(200);
    // Asked for again, fetched again.
    expect((await berth.client.get('/v2/hub/busybox/manifests/1')).body.equals(busybox.manifest)).toBe(true);
    expect((await berth.client.get(`/v2/hub/busybox/blobs/${sha256(busybox.layers[0]!)}`)).body.equals(busybox.layers[0]!)).toBe(true);
  });

  it('syncs its list: every blob of the chosen platforms stored, once per period across replicas', async () => {
    const cache = berth.server.app.proxies!.caches.find((c) => c.settings.prefix === 'hub')!;
    const deps = { registry: berth.server.app.registry, pulls: new PullTimes(berth.server.app.registry.driver), log: berth.server.app.log };
    const [one, two] = [new SyncSchedule(cache, { ...deps, replica: 'one' }), new SyncSchedule(cache, { ...deps, replica: 'two' })];
    const now = Date.now() + 24 * 3_600_000;
    const reports = await Promise.all([one.tick(now), two.tick(now)]);
    expect(reports.filter((r) => r !== undefined)).toHaveLength(1);
    const report = reports.find((r) => r !== undefined)!;
    expect(report).toMatchObject({ references: 2, failed: 0 });
    expect(await blobStored(berth.root, sha256(busybox.layers[0]!))).toBe(true);
    const index = JSON.parse((await berth.client.get('/v2/hub/acme/multi/manifests/1', { Accept: OCI_INDEX })).body.toString()) as { manifests: { digest: string }[] };
    const [amd, arm] = index.manifests.map((m) => m.digest);
    const armManifest = JSON.parse((await berth.client.get(`/v2/hub/acme/multi/manifests/${arm}`)).body.toString()) as { layers: { digest: string }[] };
    expect(await blobStored(berth.root, armManifest.layers[0]!.digest)).toBe(true);
    // linux/arm64 only: the amd64 child was not synced (it is fetched when someone asks).
    const amdManifest = JSON.parse((await pusher.get(`/v2/acme/multi/manifests/${amd}`)).body.toString()) as { layers: { digest: string }[] };
    expect(await blobStored(berth.root, amdManifest.layers[0]!.digest)).toBe(false);
  });

  // Last: a failure opens the breaker, and for a while tags and referrers come from storage.
  it('lists the cached tags and referrers while the upstream fails', async () => {
    expect((await berth.client.get(`/v2/hub/busybox/manifests/${signatureDigest}`)).status).toBe(200);
    fault.fault = () => ({ kind: 'status', status: 500 });
    const tags = await berth.client.get('/v2/hub/library/busybox/tags/list');
    expect(tags.status).toBe(200);
    expect(tags.json).toEqual({ name: 'hub/library/busybox', tags: ['1'] });
    fault.fault = () => ({ kind: 'reset' });
    const referrers = await berth.client.get(`/v2/hub/busybox/referrers/${busybox.digest}`);
    expect(referrers.status).toBe(200);
    expect(referrers.json.manifests.map((d: { digest: string }) => d.digest)).toEqual([signatureDigest]);
    const text = (await berth.client.get('/metrics')).body.toString();
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="hub",kind="tags",result="stale"\} [1-9]/);
    expect(text).toMatch(/berth_proxy_requests_total\{proxy="hub",kind="referrers",result="stale"\} [1-9]/);
  });
});
