/**
 * Events against a real Berth on a real socket, with a real receiver checking signatures: what
 * pushes, tag and manifest deletes and blob deletes send, in order, in both formats, filtered by
 * event and repository; pulls (off unless asked for: then no storage write at all); an endpoint
 * failing for a while; two replicas on one storage; the audit trail and tag history with auth
 * (two users and a robot token); the routes beside /api/repositories/<name>/tags; builds queued,
 * succeeded and failed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RobotStore, parseRobotScope } from '../../src/auth/robots.js';
import type { Config } from '../../src/config.js';
import type { EndpointConfig } from '../../src/events/config.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { bearer, getToken, PASSWORDS, basic, pushImage, startAuthServer } from '../helpers/auth-server.js';
import { FakeGitHub } from '../helpers/fake-github.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { eventually, Receiver } from '../helpers/receiver.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { FIXTURES, linkedRepository, REPO, startBuildsEnv } from './builds-setup.js';

const SECRET = 'api-test-secret-0123456789abcdef';

function endpoint(receiver: Receiver, name: string, overrides: Partial<EndpointConfig> = {}): EndpointConfig {
  return { name, url: `${receiver.url}/${name}`, secret: SECRET, events: ['push', 'delete', 'build'], repositories: ['*'], format: 'distribution', headers: {}, timeoutMs: 2000, ...overrides };
}

function fastDelivery(config: Config, endpoints: EndpointConfig[]): void {
  config.notifications = { ...config.notifications, endpoints, backoff: { initial: '50ms', max: '200ms' }, poll: '100ms', lease: '2s' };
}

/** Pushes a small image (a config and a layer) to `name` as `reference`; returns the manifest digest. */
async function push(client: Client, name: string, reference: string, query = ''): Promise<string> {
  const config = `{"architecture":"amd64","os":"linux","seed":"${Math.random()}"}`;
  const layer = `layer ${Math.random()}`;
  await client.pushBlob(name, config);
  await client.pushBlob(name, layer);
  const manifest = imageManifest([sha256(config), config.length], [[sha256(layer), layer.length]]);
  const bytes = Buffer.from(JSON.stringify(manifest));
  const res = await client.request('PUT', `/v2/${name}/manifests/${reference}${query}`, { body: bytes, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`push: ${res.status} ${res.body.toString()}`);
  return sha256(bytes);
}

/** Every file below a folder, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
  } catch {
    return [];
  }
}

describe('events from a real server', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serve(configure: (config: Config) => void, root?: string): Promise<{ server: TestServer; client: Client; root: string }> {
    const made = await filesystemConfig((config) => {
      if (root) config.storage.filesystem.root = root;
      configure(config);
    });
    const server = await startTestServer(made.config);
    cleanups.push(async () => {
      await server.close();
      if (!root) await made.cleanup();
    });
    return { server, client: new Client(server.url), root: made.config.storage.filesystem.root };
  }

  async function receiver(): Promise<Receiver> {
    const r = await Receiver.start(SECRET);
    cleanups.push(() => r.close());
    return r;
  }

  it('sends pushes (one per tag), tag, manifest and blob deletes in order, signed, in both formats, to the endpoints that want them', async () => {
    const hooks = await receiver();
    const { client } = await serve((config) =>
      fastDelivery(config, [
        endpoint(hooks, 'all'),
        endpoint(hooks, 'team-a-pushes', { format: 'cloudevents', events: ['push'], repositories: ['team-a/*'] }),
      ]),
    );
    const first = await push(client, 'team-a/app', 'v1');
    const second = await push(client, 'team-a/app', 'v2', '?tag=x&tag=y');
    await push(client, 'team-b/svc', 'v1');
    expect((await client.delete('/v2/team-a/app/manifests/v1')).status).toBe(202);
    expect((await client.delete(`/v2/team-a/app/manifests/${second}`)).status).toBe(202);
    const blob = await client.pushBlob('team-b/svc', 'a blob to delete');
    expect((await client.delete(`/v2/team-b/svc/blobs/${blob}`)).status).toBe(202);

    await hooks.waitFor(() => hooks.accepted('/all').length === 11 && hooks.accepted('/team-a-pushes').length === 4);
    const all = hooks.accepted('/all');
    const what = (digest: string | undefined) => (digest === first ? 'first' : digest === second ? 'second' : digest === blob ? 'blob' : 'other');
    expect(all.map((e) => [e.action, e.target.repository, e.target.tag ?? null, what(e.target.digest)])).toEqual([
      ['push', 'team-a/app', 'v1', 'first'],
      ['push', 'team-a/app', 'v2', 'second'],
      ['push', 'team-a/app', 'x', 'second'],
      ['push', 'team-a/app', 'y', 'second'],
      ['push', 'team-b/svc', 'v1', 'other'],
      ['delete', 'team-a/app', 'v1', 'first'],
      ['delete', 'team-a/app', null, 'second'],
      ['delete', 'team-a/app', 'v2', 'second'],
      ['delete', 'team-a/app', 'x', 'second'],
      ['delete', 'team-a/app', 'y', 'second'],
      ['delete', 'team-b/svc', null, 'blob'],
    ]);
    expect(hooks.deliveries.every((d) => d.verified)).toBe(true);
    const distribution = hooks.deliveries.find((d) => d.path === '/all')!;
    expect(distribution.contentType).toBe('application/vnd.docker.distribution.events.v1+json');
    expect(distribution.events[0]).toMatchObject({
      request: { method: 'PUT', addr: '127.0.0.1' },
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', url: expect.stringMatching(/\/v2\/team-a\/app\/manifests\/sha256:/) },
    });
    const ce = hooks.deliveries.filter((d) => d.path === '/team-a-pushes');
    expect(ce.every((d) => d.contentType === 'application/cloudevents+json; charset=utf-8')).toBe(true);
    expect(ce.map((d) => [d.body.type, d.body.source, d.body.subject])).toEqual([
      ['berth.push', '/v2/team-a/app', 'v1'],
      ['berth.push', '/v2/team-a/app', 'v2'],
      ['berth.push', '/v2/team-a/app', 'x'],
      ['berth.push', '/v2/team-a/app', 'y'],
    ]);
    // Each event once per endpoint, with the id it has in the journal.
    const ids = all.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const journal = await (await client.get('/api/events?n=100')).json;
    expect(journal.events.map((e: { id: string }) => e.id).reverse()).toEqual(hooks.accepted('/all').map((e) => e.id));
  });

  it('retries an endpoint that answers 500 until it answers 200: each event arrives once, in order', async () => {
    const hooks = await receiver();
    let refusals = 4;
    hooks.answer = () => (refusals-- > 0 ? 500 : 200);
    const { client } = await serve((config) => fastDelivery(config, [endpoint(hooks, 'flaky')]));
    const digests = [];
    for (const tag of ['1', '2', '3']) digests.push(await push(client, 'flaky/app', tag));
    await hooks.waitFor(() => hooks.accepted().length === 3);
    expect(hooks.accepted().map((e) => e.target.tag)).toEqual(['1', '2', '3']);
    expect(hooks.deliveries.filter((d) => d.status === 500)).toHaveLength(4);
    expect(new Set(hooks.accepted().map((e) => e.id)).size).toBe(3);
    // The same, as Prometheus sees it (the sender counts once it has read the answer).
    await eventually(async () => {
      const metrics = (await client.get('/metrics')).body.toString();
      expect(metrics).toContain('berth_event_deliveries_total{endpoint="flaky",result="delivered"} 3');
      expect(metrics).toContain('berth_event_deliveries_total{endpoint="flaky",result="failed"} 4');
    });
  });

  it('records no pull unless an endpoint wants pulls, and then sends them with the tag and the request', async () => {
    const hooks = await receiver();
    const quiet = await serve((config) => fastDelivery(config, [endpoint(hooks, 'pushes')]));
    await push(quiet.client, 'demo/app', 'v1');
    await hooks.waitFor(() => hooks.accepted('/pushes').length === 1);
    const events = join(quiet.root, '_berth/events');
    const kept = async () => [...(await filesUnder(join(events, 'journal'))), ...(await filesUnder(join(events, 'tags')))];
    const before = await kept();
    await eventually(async () => expect(await filesUnder(join(events, 'queues'))).toEqual([]));
    for (let i = 0; i < 5; i++) expect((await quiet.client.get('/v2/demo/app/manifests/v1')).status).toBe(200);
    expect(await kept()).toEqual(before);
    expect(await filesUnder(join(events, 'queues'))).toEqual([]);

    const loud = await serve((config) => fastDelivery(config, [endpoint(hooks, 'pulls', { events: ['pull'] })]));
    const digest = await push(loud.client, 'demo/app', 'v1');
    expect((await loud.client.get('/v2/demo/app/manifests/v1', { 'User-Agent': 'puller/1.0' })).status).toBe(200);
    expect((await loud.client.head('/v2/demo/app/manifests/v1')).status).toBe(200); // a HEAD is no pull
    await hooks.waitFor(() => hooks.accepted('/pulls').length === 1);
    expect(hooks.accepted('/pulls')[0]).toMatchObject({ action: 'pull', target: { repository: 'demo/app', tag: 'v1', digest }, request: { method: 'GET', useragent: 'puller/1.0' } });
  });

  it('delivers each event once with two replicas on one storage, whichever replica took the push', async () => {
    const hooks = await receiver();
    const a = await serve((config) => fastDelivery(config, [endpoint(hooks, 'shared')]));
    const b = await serve((config) => fastDelivery(config, [endpoint(hooks, 'shared')]), a.root);
    const digests: string[] = [];
    for (let i = 0; i < 8; i++) digests.push(await push(i % 2 ? a.client : b.client, 'shared/app', `t${i}`));
    await hooks.waitFor(() => hooks.accepted().length >= 8);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would come within a poll or two
    const ids = hooks.accepted().map((e) => e.id);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    expect(hooks.accepted().map((e) => e.target.tag).sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7']);
    const delivering = [a.server, b.server].filter((s) => s.logs.some((l) => l.msg === 'delivering events to this endpoint from this replica'));
    expect(delivering).toHaveLength(1);
  });

  it('keeps the history route and the tags route apart, whatever the repository is called', async () => {
    const { client } = await serve(() => {});
    const odd = await push(client, 'a/tags/b/history', 'v1');
    const plain = await push(client, 'a', 'b');
    const tags = await client.get('/api/repositories/a/tags/b/history/tags');
    expect(tags.status).toBe(200);
    expect(tags.json).toMatchObject({ name: 'a/tags/b/history', tags: [{ tag: 'v1', digest: odd }] });
    const oddHistory = await client.get('/api/repositories/a/tags/b/history/tags/v1/history');
    expect(oddHistory.json).toMatchObject({ name: 'a/tags/b/history', tag: 'v1', history: [{ action: 'push', target: { digest: odd } }] });
    const plainHistory = await client.get('/api/repositories/a/tags/b/history');
    expect(plainHistory.json).toMatchObject({ name: 'a', tag: 'b', history: [{ action: 'push', target: { digest: plain } }] });
    expect((await client.get('/api/repositories/a/tags')).json).toMatchObject({ name: 'a', tags: [{ tag: 'b' }] });
    expect((await client.get('/api/repositories/a/tags/-bad/history')).status).toBe(400);
    expect((await client.get('/api/events?action=explode')).status).toBe(400);
    expect((await client.get('/api/events?since=soon')).status).toBe(400);
  });
});

describe('the audit trail with auth', { timeout: 60_000 }, () => {
  it('tells who moved a tag (users and a robot token by its id), and shows events only to callers who may pull', async () => {
    const s = await startAuthServer();
    try {
      const robots = new RobotStore(createFilesystemDriver(s.root));
      const { record, secret } = await robots.create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull,push')], expiresIn: 3600 });
      const scope = ['repository:team-a/app:pull,push,delete'];
      const alice = await getToken(s.client, 'alice', scope);
      const bob = await getToken(s.client, 'bob', scope);
      const ci = await getToken(s.client, 'ci', ['repository:team-a/app:pull,push'], secret);
      const pushed = [await pushImage(s.client, 'team-a/app', 'prod', alice), await pushImage(s.client, 'team-a/app', 'prod', bob), await pushImage(s.client, 'team-a/app', 'prod', ci)];
      await pushImage(s.client, 'alice/private', 'v1', await getToken(s.client, 'alice', ['repository:alice/private:pull,push']));
      const del = await s.client.request('DELETE', '/v2/team-a/app/manifests/prod', { headers: { ...bearer(alice), 'User-Agent': 'audit-test' } });
      expect(del.status).toBe(202);

      const carol = { Authorization: basic('carol', PASSWORDS.carol!) };
      const history = await s.client.get('/api/repositories/team-a/app/tags/prod/history', carol);
      expect(history.status).toBe(200);
      expect(history.json.history.map((e: any) => [e.action, e.target.digest, e.actor])).toEqual([
        ['push', pushed[0], { name: 'alice' }],
        ['push', pushed[1], { name: 'bob' }],
        ['push', pushed[2], { name: 'ci', token: record.id }],
        ['delete', pushed[2], { name: 'alice' }],
      ]);
      expect(history.json.history[3].request).toMatchObject({ addr: '127.0.0.1', method: 'DELETE', useragent: 'audit-test' });

      // carol may pull team-a/*, not alice/*: she sees team-a's events only.
      const seen = await s.client.get('/api/events?n=100', carol);
      expect(seen.status).toBe(200);
      expect(new Set(seen.json.events.map((e: any) => e.target.repository))).toEqual(new Set(['team-a/app']));
      expect(seen.json.events).toHaveLength(4);
      expect((await s.client.get('/api/events?repository=alice/*', { Authorization: basic('alice', PASSWORDS.alice!) })).json.events).toHaveLength(1);
      // dave may pull nothing here; anonymous callers see no events at all.
      expect((await s.client.get('/api/events', { Authorization: basic('dave', PASSWORDS.dave!) })).json.events).toEqual([]);
      expect((await s.client.get('/api/repositories/team-a/app/tags/prod/history', { Authorization: basic('dave', PASSWORDS.dave!) })).status).toBe(403);
      expect((await s.client.get('/api/events')).status).toBe(401);

      // The robot token's secret is nowhere in what events keep.
      const files = await filesUnder(join(s.root, '_berth/events'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(await readFile(join(s.root, '_berth/events', file), 'utf8')).not.toContain(secret);
    } finally {
      await s.cleanup();
    }
  });
});

describe('build events', { timeout: 60_000 }, () => {
  it('sends build queued (recorded before the webhook is answered), succeeded and failed, with the commit, tags and log URL', async () => {
    const github = await FakeGitHub.start();
    const hooks = await Receiver.start(SECRET);
    github.repository(REPO, { defaultBranch: 'main' });
    const good = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    const bad = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-fail') }, { refs: ['heads/broken'] });
    const env = await startBuildsEnv(github, (config) => {
      config.builds.repositories = [linkedRepository({ rules: [{ name: 'any', type: 'branch', source: '/.*/', tag: '{sourceref}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }] })];
      fastDelivery(config, [endpoint(hooks, 'builds', { events: ['build'] })]);
    });
    try {
      const first = await env.push('refs/heads/main', good);
      expect(first.status).toBe(202);
      const buildId: string = first.json.builds[0].id;
      const journal = await env.client.get('/api/events?action=build.queued');
      expect(journal.json.events.map((e: any) => e.build.id)).toEqual([buildId]);
      await env.waitFor(buildId);
      const secondId: string = (await env.push('refs/heads/broken', bad)).json.builds[0].id;
      await env.waitFor(secondId);
      await hooks.waitFor(() => hooks.accepted().length === 4);
      const events = hooks.accepted();
      expect(events.map((e) => [e.action, e.build.id, e.build.commit, e.target.tag])).toEqual([
        ['build.queued', buildId, good, 'main'],
        ['build.succeeded', buildId, good, 'main'],
        ['build.queued', secondId, bad, 'broken'],
        ['build.failed', secondId, bad, 'broken'],
      ]);
      expect(events[1]).toMatchObject({ actor: { name: 'github' }, target: { repository: 'acme/hello', digest: expect.stringMatching(/^sha256:/) } });
      expect(events[1]!.build).toMatchObject({ github: REPO, ref: { type: 'branch', name: 'main' }, tags: ['main'], logUrl: `${env.server.url}/api/builds/${buildId}/logs`, trigger: 'webhook' });
      expect(events[3]!.build.error).toMatch(/status 3|exit/);
      expect(hooks.deliveries.every((d) => d.verified)).toBe(true);
    } finally {
      await env.close();
      await hooks.close();
      await github.close();
    }
  });

  it("sends the push of a native build, made on the build's own thread, as berth-build", async () => {
    const github = await FakeGitHub.start();
    const hooks = await Receiver.start(SECRET);
    github.repository(REPO, { defaultBranch: 'main' });
    const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    const env = await startBuildsEnv(github, (config) => {
      config.builds.builder = 'native';
      fastDelivery(config, [endpoint(hooks, 'pushes', { events: ['push'] })]);
    });
    try {
      const build = (await env.push('refs/heads/main', sha)).json.builds[0].id as string;
      const record = await env.waitFor(build);
      expect(record.state).toBe('succeeded');
      await hooks.waitFor(() => hooks.accepted().length === 1);
      expect(hooks.accepted()[0]).toMatchObject({ action: 'push', actor: { name: 'berth-build' }, target: { repository: 'acme/hello', tag: 'latest', digest: record.digest } });
    } finally {
      await env.close();
      await hooks.close();
      await github.close();
    }
  });
});
