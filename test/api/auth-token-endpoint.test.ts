/**
 * Berth's token server: GET /token (Basic or anonymous) and POST /token (OAuth2 password and
 * refresh_token grants), partial grants, robot tokens as passwords, the login backoff, the JWKS,
 * and no secret ever in the logs.
 */
import { writeFile } from 'node:fs/promises';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRobotScope, RobotStore } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { type AuthServer, basic, bearer, logText, PASSWORDS, startAuthServer, tokenReply, writeUsersFile } from '../helpers/auth-server.js';
import type { Reply } from '../helpers/http.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('token endpoint', { timeout: 60_000 }, () => {
  let s: AuthServer;
  /** Every secret handed out or sent in this file: none may show up in the logs. */
  const secrets = new Set<string>(Object.values(PASSWORDS));

  const post = (fields: Record<string, string>): Promise<Reply> => s.client.request('POST', '/token', { body: new URLSearchParams(fields).toString(), headers: FORM });
  const remember = (reply: Reply): Reply => {
    for (const key of ['token', 'access_token', 'refresh_token']) if (typeof reply.json?.[key] === 'string') secrets.add(reply.json[key]);
    return reply;
  };
  const accessOf = (token: string) => decodeJwt(token).access as { type: string; name: string; actions: string[] }[];

  beforeAll(async () => {
    s = await startAuthServer((c) => {
      c.auth.loginBackoff = { freeAttempts: 3, baseDelayMs: 400, maxDelayMs: 1600, forgetAfter: 60 };
    });
  });

  afterAll(async () => {
    try {
      // No password, token, refresh token or robot secret in any log line.
      const logs = logText(s.server);
      expect(logs.length).toBeGreaterThan(1000);
      for (const secret of secrets) expect(logs.includes(secret), `a secret in the logs: ${secret.slice(0, 12)}...`).toBe(false);
      expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
      expect(logs).not.toMatch(/berth_[a-z0-9]{16}_/);
    } finally {
      await s?.cleanup();
    }
  });

  describe('GET /token', () => {
    it('gives anonymous callers a token with what anonymous callers may do', async () => {
      const reply = remember(await tokenReply(s.client, undefined, ['repository:public/x:pull,push', 'repository:team-a/x:pull']));
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.json).toMatchObject({ expires_in: 300 });
      expect(reply.json.token).toBe(reply.json.access_token);
      expect(Math.abs(Date.parse(reply.json.issued_at) - Date.now())).toBeLessThan(5000);
      expect(reply.json.refresh_token).toBeUndefined();
      const claims = decodeJwt(reply.json.token);
      expect(claims.sub).toBe('');
      expect(claims.access).toEqual([
        { type: 'repository', name: 'public/x', actions: ['pull'] },
        { type: 'repository', name: 'team-a/x', actions: [] },
      ]);
    });

    it('signs in with Basic credentials and grants partially, never refusing a partial grant', async () => {
      const reply = remember(await tokenReply(s.client, 'carol', ['repository:team-a/x:pull,push,delete', 'repository:alice/x:pull']));
      expect(reply.status).toBe(200);
      expect(decodeJwt(reply.json.token)).toMatchObject({
        sub: 'carol',
        iss: 'berth-test-issuer',
        aud: 'berth-test',
        access: [
          { type: 'repository', name: 'team-a/x', actions: ['pull'] },
          { type: 'repository', name: 'alice/x', actions: [] },
        ],
      });
    });

    it('accepts a token request without scope (what `login` asks) and space-separated scopes in one value', async () => {
      const login = remember(await tokenReply(s.client, 'alice', [], undefined, '&client_id=podman&account=alice'));
      expect(login.status).toBe(200);
      expect(accessOf(login.json.token)).toEqual([]);
      const spaced = remember(await tokenReply(s.client, 'alice', ['repository:team-a/a:pull repository:team-a/b:push']));
      expect(accessOf(spaced.json.token).map((a) => a.name)).toEqual(['team-a/a', 'team-a/b']);
    });

    it('does not let `account` choose who the caller is', async () => {
      const reply = remember(await tokenReply(s.client, undefined, ['repository:team-a/x:pull'], undefined, '&account=alice'));
      expect(decodeJwt(reply.json.token).sub).toBe('');
      expect(accessOf(reply.json.token)[0]!.actions).toEqual([]);
    });

    it('gives a refresh token with offline_token=true (signed-in callers only)', async () => {
      const reply = remember(await tokenReply(s.client, 'alice', [], undefined, '&offline_token=true'));
      expect(typeof reply.json.refresh_token).toBe('string');
      const anonymous = remember(await tokenReply(s.client, undefined, [], undefined, '&offline_token=true'));
      expect(anonymous.json.refresh_token).toBeUndefined();
    });

    it('refuses a wrong password and an unknown user alike (401, no hint which)', async () => {
      const wrong = await tokenReply(s.client, 'bob', ['repository:team-a/x:pull'], 'not-bobs-password');
      const unknown = await tokenReply(s.client, 'mallory', ['repository:team-a/x:pull'], 'whatever');
      secrets.add('not-bobs-password');
      for (const reply of [wrong, unknown]) {
        expect(reply.status).toBe(401);
        expect(reply.json).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }], details: 'invalid username or password' });
        expect(reply.headers.get('www-authenticate')).toMatch(/^Basic realm="berth"/);
      }
    });

    it('refuses a bearer or garbage Authorization header at /token', async () => {
      for (const header of ['Bearer abc', 'Basic !!!', 'Negotiate x']) {
        const reply = await s.client.get('/token?service=berth-test', { Authorization: header });
        expect(reply.status).toBe(401);
      }
    });

    it('refuses another service and malformed scopes (400)', async () => {
      const other = await s.client.get('/token?service=other');
      expect(other.status).toBe(400);
      expect(other.json.errors[0].message).toMatch(/unknown service/);
      for (const scope of ['repository:team-a/*:pull', 'repository:x', 'repository:../x:pull', `repository:${'a/'.repeat(400)}x:pull`]) {
        const reply = await s.client.get(`/token?service=berth-test&scope=${encodeURIComponent(scope)}`);
        expect(reply.status, scope).toBe(400);
      }
      const many = Array.from({ length: 65 }, (_, i) => `scope=repository:r${i}:pull`).join('&');
      expect((await s.client.get(`/token?${many}`)).status).toBe(400);
    });
  });

  describe('POST /token (OAuth2)', () => {
    it('grants with a password, returning the granted scope and a refresh token for access_type=offline', async () => {
      const reply = remember(
        await post({
          grant_type: 'password',
          username: 'carol',
          password: PASSWORDS.carol!,
          service: 'berth-test',
          client_id: 'test',
          access_type: 'offline',
          scope: 'repository:team-a/x:pull,push repository:alice/x:pull',
        }),
      );
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ scope: 'repository:team-a/x:pull', expires_in: 300 });
      expect(reply.json.access_token).toBe(reply.json.token);
      expect(typeof reply.json.refresh_token).toBe('string');
    });

    it('refreshes: a new access token for other scopes, the same refresh token back', async () => {
      const first = remember(await post({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice!, service: 'berth-test', client_id: 'docker', access_type: 'offline' }));
      const refresh = first.json.refresh_token as string;
      const reply = remember(await post({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth-test', client_id: 'docker', scope: 'repository:team-a/x:pull,push' }));
      expect(reply.status).toBe(200);
      expect(reply.json.refresh_token).toBe(refresh);
      expect(reply.json.scope).toBe('repository:team-a/x:pull,push');
      expect(decodeJwt(reply.json.access_token).sub).toBe('alice');
      expect((await s.client.get('/v2/', bearer(reply.json.access_token))).status).toBe(200);
    });

    it('refuses bad grants with OAuth2 and OCI error shapes', async () => {
      const wrong = await post({ grant_type: 'password', username: 'bob', password: 'nope', service: 'berth-test', client_id: 'x' });
      expect(wrong.status).toBe(401);
      expect(wrong.json).toMatchObject({ error: 'invalid_grant', error_description: 'invalid username or password', errors: [{ code: 'UNAUTHORIZED' }] });
      const badRefresh = await post({ grant_type: 'refresh_token', refresh_token: 'eyJ.garbage.x', service: 'berth-test', client_id: 'x' });
      expect(badRefresh.status).toBe(401);
      expect(badRefresh.json.error).toBe('invalid_grant');
      const access = remember(await post({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice!, client_id: 'x' })).json.access_token as string;
      expect((await post({ grant_type: 'refresh_token', refresh_token: access, client_id: 'x' })).status).toBe(401); // an access token is no refresh token
      expect((await post({ grant_type: 'client_credentials', client_id: 'x' })).json.error).toBe('unsupported_grant_type');
      expect((await post({ grant_type: 'password', client_id: 'x' })).json.error).toBe('invalid_request');
      const json = await s.client.request('POST', '/token', { body: '{"grant_type":"password"}', headers: { 'Content-Type': 'application/json' } });
      expect(json.status).toBe(400);
      const huge = await s.client.request('POST', '/token', { body: `scope=${'a'.repeat(40_000)}`, headers: FORM });
      expect(huge.status).toBe(413);
    });

    it('voids refresh tokens when the password changes or the user is removed', async () => {
      const reply = remember(await post({ grant_type: 'password', username: 'bob', password: PASSWORDS.bob!, client_id: 'x', access_type: 'offline' }));
      const refresh = reply.json.refresh_token as string;
      expect((await post({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'x' })).status).toBe(200);
      await writeUsersFile(s.usersFile, { ...PASSWORDS, bob: 'a-new-password' });
      secrets.add('a-new-password');
      expect((await post({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'x' })).status).toBe(401);
      await writeUsersFile(s.usersFile);
    });
  });

  describe('robot tokens as passwords', () => {
    let robots: RobotStore;
    beforeAll(() => {
      robots = new RobotStore(createFilesystemDriver(s.root));
    });

    it('sign in as their user, limited to their scope and their user\'s rights', async () => {
      const { secret } = await robots.create({ user: 'alice', scopes: [parseRobotScope('repository:team-a/*:pull,push')], expiresIn: 3600 });
      secrets.add(secret);
      const reply = remember(await tokenReply(s.client, 'alice', ['repository:team-a/x:pull,push,delete', 'repository:alice/x:pull', 'registry:catalog:*'], secret));
      expect(reply.status).toBe(200);
      expect(decodeJwt(reply.json.token)).toMatchObject({
        sub: 'alice',
        access: [
          { type: 'repository', name: 'team-a/x', actions: ['pull', 'push'] },
          { type: 'repository', name: 'alice/x', actions: [] },
          { type: 'registry', name: 'catalog', actions: [] },
        ],
      });
      const oauth = remember(await post({ grant_type: 'password', username: 'alice', password: secret, client_id: 'ci', access_type: 'offline', scope: 'repository:team-a/y:push' }));
      expect(oauth.json.scope).toBe('repository:team-a/y:push');
      const refreshed = remember(await post({ grant_type: 'refresh_token', refresh_token: oauth.json.refresh_token, client_id: 'ci', scope: 'repository:alice/y:pull' }));
      expect(refreshed.json.scope).toBe('');
      // the robot's scope never lifts its user's limits: carol's robot with * still only pulls team-a
      const carols = await robots.create({ user: 'carol', scopes: [parseRobotScope('repository:*:*')], expiresIn: 3600 });
      secrets.add(carols.secret);
      const limited = remember(await tokenReply(s.client, 'carol', ['repository:team-a/x:pull,push'], carols.secret));
      expect(accessOf(limited.json.token)[0]!.actions).toEqual(['pull']);
    });

    it('are refused for another user, when expired, and once revoked', async () => {
      const { record, secret } = await robots.create({ user: 'bob', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 3600 });
      secrets.add(secret);
      expect((await tokenReply(s.client, 'bob', [], secret)).status).toBe(200);
      expect((await tokenReply(s.client, 'alice', [], secret)).status).toBe(401);
      const refresh = remember(await post({ grant_type: 'password', username: 'bob', password: secret, client_id: 'ci', access_type: 'offline' })).json.refresh_token as string;
      await robots.revoke(record.id);
      expect((await tokenReply(s.client, 'bob', [], secret)).status).toBe(401);
      expect((await post({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'ci' })).status).toBe(401);

      const old = await robots.create({ user: 'bob', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 3600 });
      secrets.add(old.secret);
      const path = `${s.root}/_berth/auth/tokens/${old.record.id}.json`;
      await writeFile(path, JSON.stringify({ ...old.record, expires: new Date(Date.now() - 1000).toISOString() }));
      expect((await tokenReply(s.client, 'bob', [], old.secret)).status).toBe(401);
    });
  });

  describe('internal tokens as passwords (the build pusher)', () => {
    it('trade an internal token for a token holding no more than it does', async () => {
      const internal = (await s.server.app.auth.issueInternalToken('berth-build', 'builds/app', ['pull', 'push'], 120))!;
      secrets.add(internal);
      const reply = remember(await tokenReply(s.client, 'berth-build', ['repository:builds/app:pull,push,delete', 'repository:team-a/x:pull'], internal));
      expect(reply.status).toBe(200);
      expect(accessOf(reply.json.token)).toEqual([
        { type: 'repository', name: 'builds/app', actions: ['pull', 'push'] },
        { type: 'repository', name: 'team-a/x', actions: [] },
      ]);
      const manifest = await s.client.head('/v2/builds/app/manifests/latest', bearer(reply.json.token));
      expect(manifest.status).toBe(404);
      const form = remember(await post({ grant_type: 'password', username: 'berth-build', password: internal, scope: 'repository:builds/app:push' }));
      expect(accessOf(form.json.access_token)).toEqual([{ type: 'repository', name: 'builds/app', actions: ['push'] }]);
    });

    it('refuse an internal token under another name, and an ordinary access token as a password', async () => {
      const internal = (await s.server.app.auth.issueInternalToken('berth-build', 'builds/app', ['pull'], 120))!;
      secrets.add(internal);
      expect((await tokenReply(s.client, 'alice', ['repository:builds/app:pull'], internal)).status).toBe(401);
      const ordinary = remember(await tokenReply(s.client, 'alice', ['repository:team-a/x:pull'])).json.token as string;
      expect((await tokenReply(s.client, 'alice', ['repository:team-a/x:pull'], ordinary)).status).toBe(401);
    });
  });

  describe('login backoff', () => {
    it('slows a user name down after 3 failures: 429 with Retry-After, doubling 0.4s -> 0.8s -> 1.6s (bound), even for the right password', async () => {
      const attempt = (password: string) => tokenReply(s.client, 'dave', [], password);
      secrets.add('guess');
      for (let i = 0; i < 3; i++) expect((await attempt('guess')).status).toBe(401);
      const waits: number[] = [];
      for (let round = 0; round < 3; round++) {
        const started = Date.now();
        const refused = await attempt(PASSWORDS.dave!); // refused without a password check
        expect(refused.status).toBe(429);
        expect(refused.json.errors[0].code).toBe('TOOMANYREQUESTS');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        // wait until the server lets dave try again, measuring how long that is
        let reply = refused;
        while (reply.status === 429) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          reply = await attempt('guess');
        }
        expect(reply.status).toBe(401); // that try was allowed, and failed again
        waits.push(Date.now() - started);
      }
      // 0.4 s after the 3rd failure, then 0.8 s, then 1.6 s (the bound); allow for timer slack
      expect(waits[0]).toBeGreaterThanOrEqual(350);
      expect(waits[0]).toBeLessThan(750);
      expect(waits[1]).toBeGreaterThanOrEqual(750);
      expect(waits[1]).toBeLessThan(1400);
      expect(waits[2]).toBeGreaterThanOrEqual(1500);
      expect(waits[2]).toBeLessThan(2600);
      // other users are not slowed down
      expect((await tokenReply(s.client, 'alice', [])).status).toBe(200);
      // after the wait the right password works and clears the count
      await new Promise((resolve) => setTimeout(resolve, 1700));
      expect(remember(await attempt(PASSWORDS.dave!)).status).toBe(200);
      expect((await attempt('guess')).status).toBe(401);
      expect((await attempt('guess')).status).toBe(401);
      expect(s.server.logs.some((l) => l.msg === 'sign-in refused: too many failures' && l.user === 'dave')).toBe(true);
    }, 30_000);

    it('also slows down POST /token and Basic on /v2', async () => {
      for (let i = 0; i < 3; i++) await post({ grant_type: 'password', username: 'carol', password: 'x', client_id: 'x' });
      const oauth = await post({ grant_type: 'password', username: 'carol', password: PASSWORDS.carol!, client_id: 'x' });
      expect(oauth.status).toBe(429);
      expect(oauth.json.error).toBe('slow_down');
      const v2 = await s.client.get('/v2/', { Authorization: basic('carol', PASSWORDS.carol!) });
      expect(v2.status).toBe(429);
      expect(v2.json.errors[0].code).toBe('TOOMANYREQUESTS');
    });
  });

  describe('JWKS', () => {
    it('publishes the key that verifies the tokens', async () => {
      const jwks = await s.client.get('/.well-known/jwks.json');
      expect(jwks.status).toBe(200);
      expect(jwks.json.keys).toHaveLength(1);
      expect(jwks.json.keys[0].d).toBeUndefined();
      const token = remember(await tokenReply(s.client, 'alice', ['repository:team-a/x:pull'])).json.token as string;
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks.json), { issuer: 'berth-test-issuer', audience: 'berth-test' });
      expect(payload.sub).toBe('alice');
      expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: jwks.json.keys[0].kid });
    });
  });
});
