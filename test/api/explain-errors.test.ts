/** Errors that explain: a 403 says who may not do what where; a 401 says a robot token is revoked or expired. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deniedMessage } from '../../src/auth/middleware.js';
import { parseRobotScope, RobotStore } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { type AuthServer, basic, bearer, getToken, logText, startAuthServer, tokenReply } from '../helpers/auth-server.js';

describe('deniedMessage', () => {
  it('names the caller, the repository, what it may do and what it may not', () => {
    expect(deniedMessage('alice', 'team/app', new Set(['pull']), ['delete'])).toBe('alice may pull team/app but not delete');
    expect(deniedMessage('carol', 'team/app', new Set(['pull']), ['pull', 'push'])).toBe('carol may pull team/app but not push');
    expect(deniedMessage('dave', 'x/y', new Set(), ['pull', 'push', 'delete'])).toBe('dave may not pull, push or delete x/y (no rule gives dave any access to it)');
  });
});

describe('errors that explain, under token auth', () => {
  let s: AuthServer;
  beforeAll(async () => {
    s = await startAuthServer();
  });
  afterAll(() => s.cleanup());

  it('403 DENIED over Basic names the caller, the action refused and the repository', async () => {
    const reply = await s.client.request('DELETE', '/v2/team-a/app/manifests/v1', { headers: { Authorization: basic('carol', 'carol-password-3') } });
    expect(reply.status).toBe(403);
    expect(reply.json.errors[0].code).toBe('DENIED');
    expect(reply.json.errors[0].message).toBe('carol may pull team-a/app but not delete');
    expect(reply.json.errors[0].detail).toEqual([{ Type: 'repository', Name: 'team-a/app', Action: 'delete' }]);
  });

  it('403 DENIED with a token that falls short of the rules says so too', async () => {
    const token = await getToken(s.client, 'carol', ['repository:team-a/app:pull']);
    const reply = await s.client.request('POST', '/v2/team-a/app/blobs/uploads/', { headers: bearer(token) });
    expect(reply.status).toBe(403);
    expect(reply.json.errors[0].message).toBe('carol may pull team-a/app but not push');
  });

  it('401 for a revoked robot token says it was revoked; for an expired one that it expired; never the secret', async () => {
    const robots = new RobotStore(createFilesystemDriver(s.root));
    const revoked = await robots.create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull,push')], expiresIn: 3600 });
    await robots.revoke(revoked.record.id);
    const viaToken = await tokenReply(s.client, 'ci', ['repository:team-a/app:pull'], revoked.secret);
    expect(viaToken.status).toBe(401);
    expect(viaToken.json.details).toBe(`robot token ${revoked.record.id} was revoked (or never existed)`);
    const viaBasic = await s.client.get('/v2/team-a/app/tags/list', { Authorization: basic('ci', revoked.secret) });
    expect(viaBasic.status).toBe(401);
    expect(viaBasic.json.errors[0].message).toBe(`robot token ${revoked.record.id} was revoked (or never existed)`);

    const expired = await robots.create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 3600 });
    const path = join(s.root, '_berth/auth/tokens', `${expired.record.id}.json`);
    await writeFile(path, JSON.stringify({ ...expired.record, expires: '2020-01-01T00:00:00.000Z' }));
    const old = await tokenReply(s.client, 'ci', ['repository:team-a/app:pull'], expired.secret);
    expect(old.status).toBe(401);
    expect(old.json.details).toBe(`robot token ${expired.record.id} expired at 2020-01-01T00:00:00.000Z`);
    // A wrong secret for that same id learns nothing about it.
    const guess = expired.secret.slice(0, -4) + 'AAAA';
    expect((await tokenReply(s.client, 'ci', ['repository:team-a/app:pull'], guess)).json.details).toBe('invalid username or password');
    expect(logText(s.server)).not.toContain(revoked.secret);
    expect(logText(s.server)).not.toContain(expired.secret);
  });
});
