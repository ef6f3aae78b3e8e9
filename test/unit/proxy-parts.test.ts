/**
 * The pull-through cache's small parts: WWW-Authenticate parsing (in linear time, whatever a
 * server sends), the config's checks, references, which proxy a name belongs to, and the paths
 * the middleware recognises.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { BlobFills } from '../../src/proxy/blob-fill.js';
import { ProxyCache } from '../../src/proxy/cache.js';
import { parseChallenges } from '../../src/proxy/challenge.js';
import { checkProxyList, proxySettings } from '../../src/proxy/config.js';
import { parseApiPath } from '../../src/proxy/middleware.js';
import { parseRelativeReference, parseSourceReference } from '../../src/proxy/reference.js';
import { ProxyRouter } from '../../src/proxy/routing.js';
import { CacheMarkers, PullTimes } from '../../src/proxy/state.js';
import { Registry } from '../../src/registry/registry.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { proxyEntry } from '../helpers/proxy.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

describe('WWW-Authenticate', () => {
  it('reads Bearer and Basic challenges with quoted and bare values', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges('Basic realm="a", Bearer realm="https://x/t", service=reg')).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', service: 'reg' } },
    ]);
    expect(parseChallenges('Bearer realm="with \\"escaped\\" quotes"')[0]!.params.realm).toBe('with "escaped" quotes');
  });

  it('drops what does not parse rather than guessing', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Bearer realm="never closed')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseChallenges('"quoted scheme"')).toEqual([]);
    expect(parseChallenges(`Bearer realm="${'x'.repeat(5000)}"`)).toEqual([]);
  });

  it('parses hostile headers in one pass (a backtracking parser would not come back)', () => {
    // Shapes that make backtracking parsers blow up: long runs of separators, quotes and escapes.
    expect(parseChallenges(`Bearer ${'a='.repeat(2000)}`)[0]!.scheme).toBe('bearer');
    expect(parseChallenges(`Bearer realm="${'\\'.repeat(2040)}`)).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseChallenges(','.repeat(4090))).toEqual([]);
    expect(parseChallenges(`Bearer ${'x, '.repeat(1300)}`).length).toBe(8); // at most 8 challenges are read
    expect(parseChallenges('= '.repeat(2040))).toEqual([]);
  });
});

describe('proxies config', () => {
  const check = (value: unknown) => checkProxyList(value, 'proxies', (path) => path);

  it('fills in the defaults and decides library for Docker Hub', () => {
    const [hub, ghcr] = check([{ prefix: 'hub', url: 'https://registry-1.docker.io' }, { prefix: 'ghcr', url: 'https://ghcr.io/' }]);
    expect(hub).toMatchObject({ prefix: 'hub', url: 'https://registry-1.docker.io', tagTtl: '5m', evictAfter: '', library: 'auto', timeout: '30s', sync: [], syncEvery: '1h' });
    expect(proxySettings(hub!)).toMatchObject({ library: true, tagTtlMs: 300_000, evictAfterMs: 0, timeoutMs: 30_000 });
    expect(proxySettings(ghcr!)).toMatchObject({ url: 'https://ghcr.io', library: false });
  });

  it('refuses what cannot work, naming the key', () => {
    const cases: [unknown, RegExp][] = [
      [{ url: 'https://x.io' }, /proxies\[0\]\.prefix: must be a repository name part/],
      [{ prefix: 'Hub', url: 'https://x.io' }, /proxies\[0\]\.prefix/],
      [{ prefix: 'hub', url: 'ftp://x.io' }, /proxies\[0\]\.url: must be the upstream registry's http\(s\) URL/],
      [{ prefix: 'hub', url: 'https://u:p@x.io' }, /no credentials in the URL/],
      [{ prefix: 'hub', url: 'https://x.io/some/path' }, /only the registry's origin/],
      [{ prefix: 'hub', url: 'https://x.io', username: 'u' }, /give both or neither/],
      [{ prefix: 'hub', url: 'https://x.io', tagTtl: 'soon' }, /proxies\[0\]\.tagTtl: must be a duration/],
      [{ prefix: 'hub', url: 'https://x.io', evictAfter: '10m' }, /evictAfter: must be at least 1h/],
      [{ prefix: 'hub', url: 'https://x.io', sync: ['Alpine'] }, /proxies\[0\]\.sync\[0\]: invalid image reference/],
      [{ prefix: 'hub', url: 'https://x.io', syncPlatforms: ['linux'] }, /syncPlatforms\[0\]: must be os\/arch/],
      [{ prefix: 'hub', url: 'https://x.io', colour: 'blue' }, /proxies\[0\]\.colour: unknown key/],
      [{ prefix: 'hub', url: 'https://x.io', library: 'yes' }, /library: must be auto, true or false/],
    ];
    for (const [entry, message] of cases) expect(() => check([entry]), JSON.stringify(entry)).toThrow(message);
    expect(() => check([{ prefix: 'hub', url: 'https://a.io' }, { prefix: 'hub', url: 'https://b.io' }])).toThrow(/"hub" is used twice/);
    expect(() => check([{ prefix: 'hub', url: 'https://a.io' }, { prefix: 'hub/x', url: 'https://b.io' }])).toThrow(/hub\/x and hub overlap/);
  });

  it('reads the password from passwordFile, and takes mirrors.namespaces from the environment', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'hub-password'), 'secret\n', { mode: 0o600 });
      const file = join(dir.path, 'berth.yaml');
      await writeFile(file, 'proxies:\n  - prefix: hub\n    url: https://registry-1.docker.io\n    username: me\n    passwordFile: hub-password\n');
      const config = loadConfig({ file, env: { BERTH_MIRRORS_NAMESPACES: 'true' } });
      expect(config.mirrors.namespaces).toBe(true);
      expect(config.proxies[0]!.passwordFile).toBe(join(dir.path, 'hub-password'));
      expect(proxySettings(config.proxies[0]!).password).toBe('secret');
      expect(loadConfig({ env: {} }).proxies).toEqual([]);
    } finally {
      await dir.remove();
    }
  });
});

describe('references', () => {
  it('reads relative references for sync', () => {
    expect(parseRelativeReference('alpine')).toEqual({ name: 'alpine', reference: 'latest' });
    expect(parseRelativeReference('library/alpine:3.20')).toEqual({ name: 'library/alpine', reference: '3.20' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseRelativeReference(`alpine:3.20@${digest}`)).toEqual({ name: 'alpine', reference: digest });
    expect(() => parseRelativeReference('alpine:')).toThrow(/invalid tag/);
  });

  it('reads sources for berth mirror, Docker Hub names as Docker reads them', () => {
    expect(parseSourceReference('alpine:3.20')).toEqual({ origin: 'https://registry-1.docker.io', name: 'library/alpine', reference: '3.20' });
    expect(parseSourceReference('docker.io/bitnami/redis')).toEqual({ origin: 'https://registry-1.docker.io', name: 'bitnami/redis', reference: 'latest' });
    expect(parseSourceReference('ghcr.io/acme/app:1')).toEqual({ origin: 'https://ghcr.io', name: 'acme/app', reference: '1' });
    expect(parseSourceReference('http://127.0.0.1:5001/team/app:2')).toEqual({ origin: 'http://127.0.0.1:5001', name: 'team/app', reference: '2' });
    expect(parseSourceReference('localhost:5000/app')).toEqual({ origin: 'https://localhost:5000', name: 'app', reference: 'latest' });
    expect(() => parseSourceReference('http://app:1')).toThrow(/comes a registry host/);
  });
});

describe('which proxy a name belongs to', () => {
  const registry = new Registry(createMemoryDriver(), { maxManifestSize: 4 * 1024 * 1024, maxBlobSize: 0 }, pino({ level: 'silent' }));
  const deps = {
    registry,
    fills: new BlobFills(),
    pulls: new PullTimes(registry.driver),
    markers: new CacheMarkers(registry.driver),
    maxManifestSize: 4 * 1024 * 1024,
    readOnly: false,
    log: pino({ level: 'silent' }),
  };
  const cache = (prefix: string, url: string, library: boolean) => new ProxyCache(proxySettings(proxyEntry({ prefix, url, library })), deps);
  const router = new ProxyRouter([cache('hub', 'https://registry-1.docker.io', true), cache('ghcr', 'https://ghcr.io', false), cache('', 'https://registry-1.docker.io', true)]);
  const route = (name: string) => {
    const routed = router.route(name);
    return routed && { proxy: routed.cache.settings.prefix, local: routed.local, upstream: routed.upstream };
  };

  it('maps prefixes, Docker Hub library names, and the proxy without prefix', () => {
    expect(route('hub/alpine')).toEqual({ proxy: 'hub', local: 'hub/library/alpine', upstream: 'library/alpine' });
    expect(route('hub/library/alpine')).toEqual({ proxy: 'hub', local: 'hub/library/alpine', upstream: 'library/alpine' });
    expect(route('ghcr/acme/app')).toEqual({ proxy: 'ghcr', local: 'ghcr/acme/app', upstream: 'acme/app' });
    expect(route('ghcr/app')).toEqual({ proxy: 'ghcr', local: 'ghcr/app', upstream: 'app' });
    expect(route('alpine')).toEqual({ proxy: '', local: 'library/alpine', upstream: 'library/alpine' });
    expect(route('team/app')).toEqual({ proxy: '', local: 'team/app', upstream: 'team/app' });
    expect(route('hub')).toBeUndefined();
    expect(() => router.route(`hub/${'a'.repeat(250)}`)).toThrow(/longer than 255/);
  });

  it('picks the proxy for containerd ns= by upstream host, Docker Hub by any of its names', () => {
    for (const ns of ['docker.io', 'registry-1.docker.io', 'index.docker.io', 'DOCKER.IO']) {
      expect(router.routeNamespace('library/alpine', ns)).toMatchObject({ local: 'hub/library/alpine', upstream: 'library/alpine' });
    }
    expect(router.routeNamespace('acme/app', 'ghcr.io')).toMatchObject({ local: 'ghcr/acme/app' });
    expect(() => router.routeNamespace('x/y', 'quay.io')).toThrow(/no proxy here pulls from quay.io/);
  });

  it('recognises the API paths the routes serve, and nothing else', () => {
    expect(parseApiPath('/v2/hub/alpine/manifests/3.20')).toMatchObject({ name: 'hub/alpine', kind: 'manifests', reference: '3.20' });
    expect(parseApiPath('/v2/a/manifests/b/manifests/latest')).toMatchObject({ name: 'a/manifests/b', kind: 'manifests', reference: 'latest' });
    expect(parseApiPath('/v2/a/b/blobs/sha256:00')).toMatchObject({ name: 'a/b', kind: 'blobs', reference: 'sha256:00' });
    expect(parseApiPath('/v2/a/b/blobs/uploads/')).toMatchObject({ name: 'a/b', kind: 'uploads' });
    expect(parseApiPath('/v2/a/b/blobs/uploads/0f2d')).toMatchObject({ name: 'a/b', kind: 'uploads' });
    expect(parseApiPath('/v2/a/b/tags/list')).toMatchObject({ name: 'a/b', kind: 'tags' });
    expect(parseApiPath('/v2/a/b/referrers/sha256:00')).toMatchObject({ name: 'a/b', kind: 'referrers' });
    for (const path of ['/v2/', '/v2/_catalog', '/token', '/v2/a/b/manifests/', `/v2/${'a/'.repeat(600)}manifests/x`]) expect(parseApiPath(path), path).toBeUndefined();
  });
});
