/**
 * What the console stands on, over real HTTP: API tokens (the console's sign-in) and what they may
 * not do, admin rights, the admin API (gc dry run, robot tokens), repositories by last push, image
 * details, paged tags with pushers, /api/session, and the page's static files and headers.
 */
import { createServer, get as httpGet, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { CONTENT_SECURITY_POLICY } from '../../src/console/index.js';
import { createLogger } from '../../src/log.js';
import { basic, bearer, getToken, PASSWORDS, startAuthServer, writeUsersFile, type AuthServer } from '../helpers/auth-server.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

/** Pushes a small image (config with `arch`, one random layer); returns its digest. */
async function pushImage(client: Client, name: string, tag: string, arch = 'amd64', extra: Record<string, unknown> = {}): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Env: ['A=1'], Cmd: ['/run'], ExposedPorts: { '80/tcp': {} } }, history: [{ created_by: 'step one' }] }));
  const layer = randomBytes(1000 + Math.floor(Math.random() * 1000));
  await client.pushBlob(name, config);
  await client.pushBlob(name, layer);
  return client.pushManifest(name, tag, imageManifest([sha256(config), config.length], [[sha256(layer), layer.length]], extra));
}

async function apiToken(client: Client, user: string, password = PASSWORDS[user]!, scope = 'berth:api:*') {
  return client.request('POST', '/token', {
    body: new URLSearchParams({ grant_type: 'password', username: user, password, scope, access_type: 'offline' }).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
}

describe('the console API with token auth', () => {
  let env: AuthServer;
  let alice: Client;
  const as = (token: string) => new Client(env.server.url, bearer(token));

  beforeAll(async () => {
    env = await startAuthServer((config) => {
      config.auth.admins = ['alice'];
      // ops/* is carol's alone: alice is an admin, but may not pull it.
      config.auth.rules = [{ repository: 'ops/*', user: 'carol', actions: ['pull', 'push'] }, ...config.auth.rules];
    });
    alice = new Client(env.server.url, { Authorization: basic('alice', PASSWORDS.alice!) });
    await pushImage(alice, 'team-a/app', '1.0');
    await pushImage(alice, 'public/hello', '1');
    await pushImage(new Client(env.server.url, { Authorization: basic('carol', PASSWORDS.carol!) }), 'ops/tool', 'v1');
  });
  afterAll(async () => env?.cleanup());

  it('gives an API token for berth:api:*, with a refresh token, that stands for the user at /api and nowhere else', async () => {
    const signIn = await apiToken(env.client, 'dave');
    expect(signIn.status).toBe(200);
    expect(signIn.json).toMatchObject({ scope: 'berth:api:*', expires_in: 300 });
    const token = signIn.json.access_token as string;
    expect(signIn.json.refresh_token).toEqual(expect.any(String));
    // dave has anonymous rights only: public/* and nothing of team-a/*.
    const listed = await as(token).get('/api/repositories?sort=pushed');
    expect(listed.status).toBe(200);
    expect(listed.json.repositories.map((r: { name: string }) => r.name)).toEqual(['public/hello']);
    expect((await as(token).get('/api/session')).json).toMatchObject({ auth: 'token', user: 'dave', admin: false });
    // Not a registry token: /v2 refuses it, even for what dave may pull.
    const v2 = await as(token).get('/v2/public/hello/tags/list');
    expect(v2.status).toBe(401);
    expect(v2.json.errors[0].message).toMatch(/API token is taken at \/api\/ only/);
    // A registry access token is no API token either way round: it cannot be mistaken for one at /api/admin.
    const registryToken = await getToken(env.client, 'alice', ['repository:team-a/app:pull']);
    expect((await as(registryToken).get('/api/admin/gc')).status).toBe(403);
  });

  it('asks for the user behind the token on every request: a password change signs the console out, refresh included', async () => {
    await writeUsersFile(env.usersFile, { ...PASSWORDS, bob: 'bob-password-2' });
    const signIn = await apiToken(env.client, 'bob');
    const token = signIn.json.access_token as string;
    const refresh = signIn.json.refresh_token as string;
    expect((await as(token).get('/api/repositories')).status).toBe(200);
    const refreshed = await env.client.request('POST', '/token', {
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'berth:api:*' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(refreshed.status).toBe(200);
    expect((await as(refreshed.json.access_token).get('/api/session')).json.user).toBe('bob');

    await writeUsersFile(env.usersFile, { ...PASSWORDS, bob: 'a-new-password-for-bob' });
    const after = await as(token).get('/api/repositories');
    expect(after.status).toBe(401);
    expect(after.json.errors[0].message).toMatch(/password changed/);
    const again = await env.client.request('POST', '/token', {
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'berth:api:*' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(again.status).toBe(401);
    await writeUsersFile(env.usersFile);
  });

  it('keeps the API scope alone, and for signed-in users only', async () => {
    const mixed = await apiToken(env.client, 'alice', PASSWORDS.alice, 'berth:api:* repository:team-a/app:pull');
    expect(mixed.status).toBe(400);
    expect(mixed.json.error).toBe('invalid_scope');
    const anonymous = await env.client.get('/token?scope=berth:api:*');
    expect(anonymous.status).toBe(401);
    const wrong = await apiToken(env.client, 'alice', 'not-her-password');
    expect(wrong.status).toBe(401);
  });

  it('shows an anonymous caller public repositories only, and a user without rights no private ones', async () => {
    for (const sort of ['name', 'pushed']) {
      expect((await env.client.get(`/api/repositories?sort=${sort}`)).json.repositories.map((r: { name: string }) => r.name)).toEqual(['public/hello']);
    }
    const dave = new Client(env.server.url, { Authorization: basic('dave', PASSWORDS.dave!) });
    expect((await dave.get('/api/repositories/team-a/app/tags')).status).toBe(403);
    expect((await dave.get('/api/repositories/team-a/app/manifests/1.0')).status).toBe(403);
    expect((await env.client.get('/api/repositories/team-a/app/manifests/1.0')).status).toBe(401);
    // Pushers are for signed-in callers (events name people).
    expect((await env.client.get('/api/repositories/public/hello/tags')).json.tags[0].pushedBy).toBeUndefined();
    expect((await alice.get('/api/repositories/public/hello/tags')).json.tags[0].pushedBy).toBe('alice');
    expect((await env.client.get('/api/session?repository=team-a/app')).json.actions).toEqual([]);
    expect((await alice.get('/api/session?repository=team-a/app')).json.actions).toEqual(['pull', 'push', 'delete']);
  });

  it('gives admins storage and events of every repository, a gc dry run, and robot tokens; others get 403 and anonymous callers 401', async () => {
    const aliceToken = (await apiToken(env.client, 'alice')).json.access_token as string;
    const admin = as(aliceToken);
    expect((await admin.get('/api/session')).json).toMatchObject({ user: 'alice', admin: true });
    // ops/tool is not hers to pull, but an admin sees its storage and events.
    expect((await admin.get('/api/repositories')).json.repositories.map((r: { name: string }) => r.name)).not.toContain('ops/tool');
    expect((await admin.get('/api/usage')).json.repositories.map((r: { name: string }) => r.name)).toContain('ops/tool');
    expect((await admin.get('/api/events?repository=ops/*')).json.events.length).toBeGreaterThan(0);
    const bob = new Client(env.server.url, { Authorization: basic('bob', PASSWORDS.bob!) });
    expect((await bob.get('/api/events?repository=ops/*')).json.events).toEqual([]);
    expect((await bob.get('/api/usage')).json.repositories.map((r: { name: string }) => r.name)).not.toContain('ops/tool');

    const gc = await admin.get('/api/admin/gc');
    expect(gc.status).toBe(200);
    expect(gc.json.report).toMatchObject({ repositories: 3, blobsDeleted: 0 });
    expect(gc.json.settings).toMatchObject({ grace: '1h', deleteUntagged: false });
    expect((await bob.get('/api/admin/gc')).status).toBe(403);
    expect((await env.client.get('/api/admin/gc')).status).toBe(401);
    // A robot token of an admin is no admin.
    const created = await admin.request('POST', '/api/admin/tokens', {
      body: JSON.stringify({ user: 'alice', scopes: ['repository:team-a/*:pull'], expires: '1d', description: 'console test' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { id, secret } = created.json as { id: string; secret: string };
    expect(secret).toMatch(/^berth_/);
    expect(created.json.hash).toBeUndefined();
    const robot = new Client(env.server.url, { Authorization: basic('alice', secret) });
    expect((await robot.get('/v2/team-a/app/tags/list')).status).toBe(200);
    expect((await robot.get('/api/admin/gc')).status).toBe(403);
    // The secret is never listed, never logged.
    const listed = await admin.get('/api/admin/tokens');
    expect(listed.json.tokens.find((t: { id: string }) => t.id === id)).toMatchObject({ user: 'alice', scopes: ['repository:team-a/*:pull'], state: 'active', description: 'console test' });
    expect(listed.body.toString()).not.toContain(secret);
    expect(JSON.stringify(env.server.logs)).not.toContain(secret);

    const bad = await admin.request('POST', '/api/admin/tokens', { body: JSON.stringify({ user: 'nobody', scopes: ['repository:x:pull'] }), headers: { 'Content-Type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect((await bob.request('POST', '/api/admin/tokens', { body: JSON.stringify({ user: 'bob', scopes: ['repository:x:pull'] }) })).status).toBe(403);
    expect((await bob.request('DELETE', `/api/admin/tokens/${id}`)).status).toBe(403);

    expect((await admin.request('DELETE', `/api/admin/tokens/${id}`)).status).toBe(204);
    expect((await robot.get('/v2/team-a/app/tags/list')).status).toBe(401);
    expect((await admin.request('DELETE', `/api/admin/tokens/${id}`)).status).toBe(404);
  });

  it('lists repositories by last push, newest first, a page at a time; a push here shows at once', async () => {
    await pushImage(alice, 'team-a/newest', 'x');
    const first = await alice.get('/api/repositories?sort=pushed&n=1');
    expect(first.json.repositories.map((r: { name: string }) => r.name)).toEqual(['team-a/newest']);
    const names: string[] = [];
    let last: string | undefined;
    do {
      const page = await alice.get(`/api/repositories?sort=pushed&n=1${last ? `&last=${encodeURIComponent(last)}` : ''}`);
      names.push(...page.json.repositories.map((r: { name: string }) => r.name));
      last = page.json.next;
    } while (last);
    expect(names).toEqual(['team-a/newest', 'public/hello', 'team-a/app']);
    expect((await alice.get('/api/repositories?sort=pushed&q=app')).json.repositories.map((r: { name: string }) => r.name)).toEqual(['team-a/app']);
    expect((await alice.get('/api/repositories?sort=size')).status).toBe(400);
    expect((await alice.get('/api/repositories?sort=pushed&last=garbage')).status).toBe(400);
  });

  it('describes an image: layers with stored sizes, config, history; an index: its platforms; both: referrers', async () => {
    const amd = await pushImage(alice, 'team-a/multi', 'amd');
    const arm = await pushImage(alice, 'team-a/multi', 'arm', 'arm64');
    const child = async (digest: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: (await alice.get(`/v2/team-a/multi/manifests/${digest}`)).body.length });
    const index = await alice.pushManifest('team-a/multi', '1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...(await child(amd)), platform: { os: 'linux', architecture: 'amd64' } }, await child(arm)],
    });
    const empty = Buffer.from('{}');
    await alice.pushBlob('team-a/multi', empty);
    await alice.pushManifest('team-a/multi', 'sha256-sig', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.cosign.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }],
      subject: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: index, size: 1 },
    });
    const details = (await alice.get('/api/repositories/team-a/multi/manifests/1')).json;
    expect(details).toMatchObject({ kind: 'index', digest: index });
    // The arm64 child has no platform in the index: its config says.
    expect(details.manifests.map((m: { platform: string }) => m.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(details.referrers).toEqual([expect.objectContaining({ artifactType: 'application/vnd.dev.cosign.signature' })]);
    const image = (await alice.get(`/api/repositories/team-a/multi/manifests/${amd}`)).json;
    expect(image).toMatchObject({ kind: 'image', config: { os: 'linux', architecture: 'amd64', env: ['A=1'], cmd: ['/run'], exposedPorts: ['80/tcp'] }, history: [{ createdBy: 'step one' }] });
    expect(image.layers).toHaveLength(1);
    expect(image.layers[0].size).toBeGreaterThan(999);
    expect((await alice.get('/api/repositories/team-a/multi/manifests/nope')).status).toBe(404);
    expect((await alice.get('/api/repositories/team-a/multi/manifests/bad%20tag')).status).toBe(400);
  });

  it('pages tags, with the next page in Link and next', async () => {
    for (const tag of ['a', 'b', 'c']) await pushImage(alice, 'team-a/paged', tag);
    const first = await alice.get('/api/repositories/team-a/paged/tags?n=2');
    expect(first.json.tags.map((t: { tag: string }) => t.tag)).toEqual(['a', 'b']);
    expect(first.json.next).toBe('b');
    expect(first.headers.get('link')).toContain('last=b');
    expect((await alice.get('/api/repositories/team-a/paged/tags?n=2&last=b')).json).toMatchObject({ tags: [{ tag: 'c' }] });
  });
});

describe('the console page and admins without auth', () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await filesystemConfig((config) => {
      config.auth.mode = 'none';
    });
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('serves the page for every deep link with a strict CSP, and hashed assets cached for a year', async () => {
    const client = new Client(server.url);
    const home = await client.get('/');
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/^text\/html/);
    expect(home.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(home.headers.get('cache-control')).toBe('no-cache');
    const html = home.body.toString();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    for (const path of ['/r/team/app', '/r/team/app/t/1.0', '/builds/20250101-000000000-abcdef', '/admin', '/activity', '/signin?next=/']) {
      expect((await client.get(path)).body.toString()).toBe(html);
    }
    // A browser's revalidation (fetch() would add Cache-Control: no-cache, which asks for the whole page).
    const revalidated = await new Promise<number>((resolve, reject) =>
      httpGet(`${server.url}/r/x`, { headers: { 'If-None-Match': home.headers.get('etag')! } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject),
    );
    expect(revalidated).toBe(304);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await client.get(script);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const head = await client.head(script);
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(asset.body.length);
    // Only files that are there: no path from the request reaches the file system.
    for (const path of ['/assets/nope.js', '/assets/..%2F..%2Fpackage.json', '/assets/%2e%2e/index.html', '/nowhere']) expect((await client.get(path)).status).toBe(404);
  });

  it('makes everybody admin on loopback', async () => {
    const client = new Client(server.url);
    expect((await client.get('/api/session')).json).toMatchObject({ auth: 'none', user: null, admin: true });
    expect((await client.get('/api/admin/gc')).status).toBe(200);
    expect((await client.get('/api/admin/tokens')).status).toBe(404); // no robot tokens without auth
  });
});

describe('the pulls-only mode (no auth, not on loopback)', () => {
  let http: Server;
  let url: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    // Configured for every address without choosing auth.mode: pulls only. Served here on loopback.
    const config: Config = { ...made.config, listen: '0.0.0.0:5000' };
    const app = await createApp(config, { log: createLogger('silent') });
    http = createServer(app.koa.callback());
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    await cleanup?.();
  });

  it('has no admins: the admin API is refused', async () => {
    const client = new Client(url);
    expect((await client.get('/api/session')).json).toMatchObject({ auth: 'none', admin: false });
    expect((await client.get('/api/admin/gc')).status).toBe(403);
    expect((await client.get('/')).status).toBe(200);
  });
});

describe('repositories by last push across replicas', () => {
  it('shows a push through another replica after console.refresh', async () => {
    const made = await filesystemConfig((config) => {
      config.console.refresh = '1s';
    });
    const a = await startTestServer(made.config);
    const b = await startTestServer(made.config);
    try {
      const clientA = new Client(a.url);
      await pushImage(clientA, 'one/app', '1');
      expect((await clientA.get('/api/repositories?sort=pushed')).json.repositories.map((r: { name: string }) => r.name)).toEqual(['one/app']);
      await pushImage(new Client(b.url), 'two/app', '1');
      const until = Date.now() + 15_000;
      let names: string[] = [];
      while (Date.now() < until) {
        names = (await clientA.get('/api/repositories?sort=pushed')).json.repositories.map((r: { name: string }) => r.name);
        if (names[0] === 'two/app') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(names).toEqual(['two/app', 'one/app']);
    } finally {
      await a.close();
      await b.close();
      await made.cleanup();
    }
  });
});
