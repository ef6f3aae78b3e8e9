/**
 * Eviction as gc runs it: `berth gc` (the compiled CLI, on the storage a pull-through cache
 * filled) and the scheduled gc in the server both evict cached manifests not pulled for their
 * proxy's evictAfter before they collect, and leave the team's own repositories alone.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { GcSchedule } from '../../src/gc-schedule.js';
import { evictUnpulled } from '../../src/proxy/evict.js';
import { PullTimes } from '../../src/proxy/state.js';
import { Client, sha256 } from '../helpers/http.js';
import { blobStored, proxyEntry, pushRandomImage, startProxyServer, type ProxyServer, type PushedImage } from '../helpers/proxy.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const DAY = 86_400_000;

describe('eviction by gc', { timeout: 60_000 }, () => {
  let upstream: TestServer;
  let upstreamCleanup: () => Promise<void>;
  let berth: ProxyServer;
  let first: PushedImage;
  let second: PushedImage;
  let own: PushedImage;

  beforeAll(async () => {
    const made = await filesystemConfig();
    upstreamCleanup = made.cleanup;
    upstream = await startTestServer(made.config);
    const client = new Client(upstream.url);
    first = await pushRandomImage(client, 'lib/first', '1', [1500]);
    second = await pushRandomImage(client, 'lib/second', '1', [1600]);
    berth = await startProxyServer([proxyEntry({ prefix: 'up', url: upstream.url, evictAfter: '1d' })]);
    for (const image of [first, second]) {
      expect((await berth.client.get(`/v2/up/${image.name}/manifests/1`)).status).toBe(200);
      expect((await berth.client.get(`/v2/up/${image.name}/blobs/${sha256(image.layers[0]!)}`)).status).toBe(200);
    }
    own = await pushRandomImage(berth.client, 'team/own', '1', [1700]);
    // `first` was last pulled two days ago.
    await new PullTimes(berth.server.app.registry.driver).start(`up/${first.name}`, first.digest, Date.now() - 2 * DAY);
  });

  afterAll(async () => {
    await berth?.cleanup();
    await upstream?.close();
    await upstreamCleanup?.();
  });

  it('berth fsck finds a cache whose blobs were never pulled clean (they are fetched when asked for)', async () => {
    const dir = await tempDir('berth-fsck-config-');
    onTestFinished(() => dir.remove());
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, ['storage:', `  filesystem: { root: ${JSON.stringify(berth.root)} }`, 'proxies:', '  - prefix: up', `    url: ${upstream.url}`, ''].join('\n'));
    // The cached manifests name config blobs no client has asked for yet.
    expect(await blobStored(berth.root, sha256(first.config))).toBe(false);
    const child = spawn(process.execPath, [CLI, 'fsck', '--config', config, '--json'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    const report = JSON.parse(out) as { clean: boolean; manifests: number; problems: unknown[] };
    expect(report.problems).toEqual([]);
    expect(report.manifests).toBeGreaterThanOrEqual(3);
    expect(code).toBe(0);
  });

  it('the admin gc dry run names the cached manifests gc would evict, and evicts nothing', async () => {
    const reply = await berth.client.get('/api/admin/gc');
    expect(reply.status).toBe(200);
    expect(reply.json.evictions).toEqual({ items: [{ repository: 'up/lib/first', digest: first.digest }], count: 1 });
    expect(await berth.server.app.registry.manifests.revisions(`up/${first.name}`)).toContain(first.digest);
  });

  it('berth gc --dry-run names what it would evict; berth gc evicts it and frees its blobs', async () => {
    const dir = await tempDir('berth-gc-config-');
    onTestFinished(() => dir.remove());
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, ['storage:', `  filesystem: { root: ${JSON.stringify(berth.root)} }`, 'proxies:', '  - prefix: up', `    url: ${upstream.url}`, '    evictAfter: 1d', ''].join('\n'));
    const gc = async (...args: string[]): Promise<string> => {
      const child = spawn(process.execPath, [CLI, 'gc', '--config', config, '--grace', '0s', ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(0);
      return out;
    };
    const dry = JSON.parse(await gc('--dry-run', '--json')) as { evicted: { repository: string; digest: string }[] };
    expect(dry.evicted).toEqual([{ repository: 'up/lib/first', digest: first.digest }]);
    expect(await gc()).toContain('evicted: 1 cached manifests');
    expect(await blobStored(berth.root, sha256(first.layers[0]!))).toBe(false);
    expect(await blobStored(berth.root, sha256(second.layers[0]!))).toBe(true);
    expect((await berth.client.get('/v2/team/own/manifests/1')).body.equals(own.manifest)).toBe(true);
  });

  it('the scheduled gc evicts before it collects', async () => {
    const registry = berth.server.app.registry;
    const proxies = [proxyEntry({ prefix: 'up', url: upstream.url, evictAfter: '1d' })];
    await new PullTimes(registry.driver).start(`up/${second.name}`, second.digest, Date.now() - 2 * DAY);
    const schedule = new GcSchedule(
      { grace: '0s', uploadTtl: '24h', deleteUntagged: false, schedule: '1d' },
      { driver: registry.driver, log: berth.server.app.log, metrics: berth.server.app.metrics, replica: 'test', evict: () => evictUnpulled(registry, proxies, { dryRun: false }) },
    );
    expect(await schedule.tick(Date.now() + 100 * DAY)).toBeDefined();
    expect(await blobStored(berth.root, sha256(second.layers[0]!))).toBe(false);
    expect(berth.server.logs.find((l) => l.msg === 'scheduled gc finished')).toMatchObject({ evicted: 1 });
  });
});
