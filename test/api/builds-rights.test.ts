/**
 * Build API rights, with a stand-in for the auth middleware (token auth is its own module):
 * listing shows builds of repositories the caller may pull; showing and logs need pull;
 * trigger and cancel need push. The webhook stays outside registry auth.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Koa from 'koa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { errorMiddleware } from '../../src/http/errors.js';
import type { AppState } from '../../src/http/context.js';
import type { Action, Permissions } from '../../src/auth/permissions.js';
import { type BuildsModule, createBuilds } from '../../src/builds/index.js';
import { loadConfig } from '../../src/config.js';
import { RegistryError } from '../../src/registry/errors.js';
import { Registry } from '../../src/registry/registry.js';
import { FakeGitHub, pushPayload, signedDelivery } from '../helpers/fake-github.js';
import { Client, errorCode } from '../helpers/http.js';
import { tempDir } from '../helpers/tmp.js';
import { FAKE_BUILDAH, FIXTURES, linkedRepository } from './builds-setup.js';

/** Who may do what, by the X-Test-User header: a small stand-in for src/auth. */
const GRANTS: Record<string, Record<string, Action[]>> = {
  reader: { 'acme/hello': ['pull'] },
  pusher: { 'acme/hello': ['pull', 'push'], 'acme/other': ['pull'] },
};

function permissionsFor(user: string | undefined): Permissions {
  const can = async (repository: string, action: Action) => (user ? (GRANTS[user]?.[repository] ?? []).includes(action) : false);
  return {
    subject: user,
    can,
    async authenticate() {},
    principal: async () => (user ? { user } : undefined),
    admin: async () => false,
    async require(repository, actions) {
      for (const action of actions) {
        if (await can(repository, action)) continue;
        throw user ? new RegistryError('DENIED', `${user} may not ${action} ${repository}`) : new RegistryError('UNAUTHORIZED', 'authentication required');
      }
    },
    async requireAuthenticated() {},
    async requireCatalog() {},
    readable: () => undefined,
  };
}

describe('build API rights', { timeout: 60_000 }, () => {
  let github: FakeGitHub;
  let builds: BuildsModule;
  let server: Server;
  let client: Client;
  let work: { path: string; remove: () => Promise<void> };
  const ids: Record<string, string> = {};
  const internalTokens: unknown[][] = [];

  beforeAll(async () => {
    github = await FakeGitHub.start();
    for (const repo of ['acme/hello', 'acme/other']) {
      github.repository(repo);
      await github.commit(repo, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    }
    work = await tempDir('berth-rights-');
    const config = loadConfig({ env: {} });
    config.builds = {
      ...config.builds,
      builder: 'buildah',
      buildah: FAKE_BUILDAH,
      workDir: work.path,
      github: { api: github.url, token: '' },
      repositories: [linkedRepository(), linkedRepository({ github: 'acme/other', secret: 'other-secret', image: 'acme/other' })],
    };
    const log = pino({ level: 'silent' });
    const driver = createMemoryDriver();
    builds = createBuilds(config, {
      registry: new Registry(driver, { ...config.limits }, log),
      driver,
      log,
      auth: {
        middleware: async (_ctx, next) => next(),
        router: undefined as never,
        issueInternalToken: async (...args) => {
          internalTokens.push(args);
          return 'internal-token';
        },
        mayPull: async () => true,
      },
    });
    const koa = new Koa<AppState>();
    koa.use(errorMiddleware);
    koa.use(async (ctx, next) => {
      ctx.state.log = log;
      ctx.state.permissions = permissionsFor(ctx.get('X-Test-User') || undefined);
      await next();
    });
    koa.use(builds.middleware);
    server = createServer(koa.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await builds.start(client.base);
    // Anyone holding the secret may trigger through the webhook: no registry credentials.
    for (const [repo, secret] of [
      ['acme/hello', 'webhook-secret-1'],
      ['acme/other', 'other-secret'],
    ] as const) {
      const sha = github.repository(repo).refs.get('heads/main')!;
      const signed = signedDelivery(secret, 'push', pushPayload({ repository: repo, ref: 'refs/heads/main', sha }));
      const res = await client.request('POST', '/webhooks/github', { body: signed.body, headers: signed.headers });
      expect(res.status).toBe(202);
      ids[repo] = res.json.builds[0].id;
    }
  });

  afterAll(async () => {
    await builds?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await github?.close();
    await work?.remove();
  });

  const as = (user?: string): Record<string, string> => (user ? { 'X-Test-User': user } : {});

  it('lists only builds of repositories the caller may pull', async () => {
    const list = async (user?: string) => ((await client.get('/api/builds', as(user))).json.builds as { github: string }[]).map((b) => b.github).sort();
    expect(await list()).toEqual([]);
    expect(await list('reader')).toEqual(['acme/hello']);
    expect(await list('pusher')).toEqual(['acme/hello', 'acme/other']);
  });

  it('shows a build and its log only with pull (else 404, as for no build at all)', async () => {
    const anonymous = await client.get(`/api/builds/${ids['acme/other']}`);
    expect(anonymous.status).toBe(404);
    expect(errorCode(anonymous)).toBe('NAME_UNKNOWN');
    expect((await client.get(`/api/builds/${ids['acme/other']}`, as('reader'))).status).toBe(404);
    expect((await client.get(`/api/builds/${ids['acme/other']}/logs`, as('reader'))).status).toBe(404);
    expect((await client.get(`/api/builds/${ids['acme/hello']}?`, as('reader'))).status).toBe(200);
  });

  it('triggers and cancels only with push', async () => {
    const body = JSON.stringify({ repository: 'acme/hello' });
    expect((await client.request('POST', '/api/builds', { body, headers: as('reader') })).status).toBe(403);
    expect((await client.request('POST', '/api/builds', { body: JSON.stringify({ repository: 'acme/other' }), headers: as('pusher') })).status).toBe(403);
    expect((await client.request('POST', '/api/builds', { body: JSON.stringify({ repository: 'acme/other' }), headers: as('reader') })).status).toBe(404);
    const ok = await client.request('POST', '/api/builds', { body, headers: as('pusher') });
    expect(ok.status).toBe(202);
    expect(ok.json.builds[0].trigger).toEqual({ kind: 'manual', user: 'pusher' });
    const id = ok.json.builds[0].id;
    expect((await client.request('POST', `/api/builds/${id}/cancel`, { headers: as('reader') })).status).toBe(403);
    expect((await client.request('POST', `/api/builds/${id}/cancel`, { headers: as('pusher') })).status).toBeLessThan(300);
  });

  it('gives the buildah builder a push token for the target only', async () => {
    const end = Date.now() + 10_000;
    while (Date.now() < end && internalTokens.length === 0) await new Promise((r) => setTimeout(r, 50));
    expect(internalTokens[0]).toEqual(['berth-build', expect.stringMatching(/^acme\/(hello|other)$/), ['pull', 'push'], 3600 + 300]);
  });
});
