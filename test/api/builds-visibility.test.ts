/**
 * `/api/builds` with token auth on a real server (issue 15, item 9): credentials are checked
 * before anything is looked up, and a caller who may not see a build or a linked repository gets
 * the same answer as for one that does not exist: nothing says which private builds exist.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, PASSWORDS, teamAuth, writeUsersFile } from '../helpers/auth-server.js';
import { FakeGitHub, pushPayload, signedDelivery } from '../helpers/fake-github.js';
import type { Reply } from '../helpers/http.js';
import { tempDir } from '../helpers/tmp.js';
import { type BuildsEnv, FIXTURES, linkedRepository, REPO, SECRET, startBuildsEnv } from './builds-setup.js';

describe('build API visibility', { timeout: 60_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let users: { path: string; remove: () => Promise<void> };
  let id: string;
  const unknownId = '20200101-000000000-abcdef';

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO);
    const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    users = await tempDir('berth-users-');
    const usersFile = join(users.path, 'users.htpasswd');
    await writeUsersFile(usersFile);
    env = await startBuildsEnv(github, (config) => {
      teamAuth(config, usersFile);
      config.builds.repositories = [linkedRepository({ image: 'team-a/hello' })];
    });
    const signed = signedDelivery(SECRET, 'push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }));
    const res = await env.client.request('POST', '/webhooks/github', { body: signed.body, headers: signed.headers });
    expect(res.status).toBe(202);
    id = res.json.builds[0].id;
  });
  afterAll(async () => {
    await env?.close();
    await github?.close();
    await users?.remove();
  });

  const as = (user?: string, password?: string): Record<string, string> => (user ? { Authorization: basic(user, password ?? PASSWORDS[user]!) } : {});
  const get = (path: string, user?: string, password?: string) => env.client.get(path, as(user, password));
  const trigger = (repository: string, user?: string, password?: string) =>
    env.client.request('POST', '/api/builds', { body: JSON.stringify({ repository }), headers: { 'Content-Type': 'application/json', ...as(user, password) } });
  const shape = (reply: Reply) => ({ status: reply.status, code: reply.json?.errors?.[0]?.code, challenge: reply.headers.get('www-authenticate') });

  it('answers a build the caller may not see as one that does not exist', async () => {
    for (const user of [undefined, 'dave']) {
      for (const suffix of ['', '/logs']) {
        const hidden = await get(`/api/builds/${id}${suffix}`, user);
        const missing = await get(`/api/builds/${unknownId}${suffix}`, user);
        expect(shape(hidden), `${user} ${suffix}`).toEqual(shape(missing));
        expect(hidden.status).toBe(404);
        expect(hidden.body.toString()).not.toContain('team-a/hello');
        expect(hidden.body.toString().replace(id, unknownId)).toBe(missing.body.toString());
      }
      const cancelHidden = await env.client.request('POST', `/api/builds/${id}/cancel`, { headers: as(user) });
      const cancelMissing = await env.client.request('POST', `/api/builds/${unknownId}/cancel`, { headers: as(user) });
      expect(shape(cancelHidden)).toEqual(shape(cancelMissing));
    }
    expect((await get(`/api/builds/${id}`, 'carol')).status).toBe(200); // carol may pull team-a/*
    expect((await env.client.request('POST', `/api/builds/${id}/cancel`, { headers: as('carol') })).status).toBe(403);
  });

  it('answers a linked repository the caller may not see as one that is not linked', async () => {
    for (const user of [undefined, 'dave']) {
      const hidden = await trigger(REPO, user);
      const unknown = await trigger('acme/not-linked', user);
      expect(shape(hidden), String(user)).toEqual(shape(unknown));
      expect(hidden.status).toBe(404);
      expect(hidden.body.toString()).not.toContain('team-a/hello');
    }
    expect((await trigger(REPO, 'carol')).status).toBe(403); // carol sees it, may not push
  });

  it('checks credentials before looking anything up', async () => {
    for (const path of [`/api/builds/${id}`, `/api/builds/${unknownId}`, '/api/builds']) {
      const reply = await get(path, 'alice', 'not-her-password');
      expect(reply.status, path).toBe(401);
    }
    expect((await trigger(REPO, 'alice', 'not-her-password')).status).toBe(401);
    expect((await trigger('acme/not-linked', 'alice', 'not-her-password')).status).toBe(401);
  });
});
