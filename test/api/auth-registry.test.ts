/**
 * The registry under token auth, as a resource provider: challenges, what tokens let through,
 * every forged or broken token refused (status, OCI code, WWW-Authenticate), the catalog and
 * cross-repository mounts limited to what the caller may pull, Basic credentials on /v2,
 * garbage Authorization headers, and Berth's internal tokens.
 */
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RobotStore, parseRobotScope } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import {
  type AuthServer,
  basic,
  bearer,
  forgeToken,
  getToken,
  PASSWORDS,
  postBlob,
  pushImage,
  serverKey,
  startAuthServer,
} from '../helpers/auth-server.js';
import { errorCode, type Reply, sha256 } from '../helpers/http.js';

/** The parameters of a Bearer challenge. */
function challenge(reply: Reply): Record<string, string> {
  const header = reply.headers.get('www-authenticate') ?? '';
  expect(header.startsWith('Bearer ')).toBe(true);
  return Object.fromEntries([...header.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

describe('registry under token auth', { timeout: 60_000 }, () => {
  let s: AuthServer;
  let alice: string;
  let key: { key: KeyObject; kid: string };
  const manifestPath = (name: string, ref: string) => `/v2/${name}/manifests/${ref}`;

  beforeAll(async () => {
    s = await startAuthServer();
    alice = await getToken(s.client, 'alice', ['repository:team-a/app:pull,push,delete', 'repository:public/tool:pull,push', 'repository:alice/src:pull,push']);
    await pushImage(s.client, 'team-a/app', 'v1', alice);
    await pushImage(s.client, 'public/tool', 'v1', alice);
    key = await serverKey(s.root);
  });
  afterAll(async () => s?.cleanup());

  describe('challenges', () => {
    it('answers GET /v2/ without credentials with 401, the Bearer challenge and the API version header', async () => {
      const res = await s.client.get('/v2/');
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(challenge(res)).toEqual({ realm: `${s.server.url}/token`, service: 'berth-test' });
    });

    it('names the scope the request needed: pull, pull+push for uploads, delete', async () => {
      const pull = await s.client.get(manifestPath('team-a/app', 'v1'));
      expect(pull.status).toBe(401);
      expect(challenge(pull).scope).toBe('repository:team-a/app:pull');
      expect(pull.json.errors[0].detail).toEqual([{ Type: 'repository', Name: 'team-a/app', Action: 'pull' }]);
      const head = await s.client.head(manifestPath('team-a/app', 'v1'));
      expect(head.status).toBe(401);
      expect(challenge(head).scope).toBe('repository:team-a/app:pull');
      const push = await s.client.request('POST', '/v2/team-a/app/blobs/uploads/');
      expect(challenge(push).scope).toBe('repository:team-a/app:pull,push');
      const del = await s.client.request('DELETE', manifestPath('public/tool', 'v1'));
      expect(challenge(del).scope).toBe('repository:public/tool:delete');
      expect(challenge(await s.client.get('/v2/_catalog')).scope).toBe('registry:catalog:*');
    });

    it('builds the realm from the Host the client used, and from X-Forwarded-* only from trusted proxies', async () => {
      const realmFor = (server: AuthServer, headers: Record<string, string>) =>
        new Promise<string>((resolve, reject) => {
          const req = httpRequest(`${server.server.url}/v2/`, { headers }, (res) => {
            res.resume();
            resolve(/realm="([^"]*)"/.exec(String(res.headers['www-authenticate']))![1]!);
          });
          req.on('error', reject);
          req.end();
        });
      expect(await realmFor(s, { Host: 'registry.example.com:8443' })).toBe('http://registry.example.com:8443/token');
      expect(await realmFor(s, { Host: 'evil"quote' })).toBe(`http://127.0.0.1:${s.server.port}/token`);
      // The default trusts a proxy on loopback (this test's client): nginx on the same host.
      expect(await realmFor(s, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'proxy.example.com' })).toBe('https://proxy.example.com/token');
      const untrusted = await startAuthServer((c) => {
        c.trustedProxies = ['10.0.0.0/8'];
      });
      // Deprecated: believes everyone, as trustedProxies 0.0.0.0/0 would.
      const trusted = await startAuthServer((c) => {
        c.trustedProxies = [];
        c.auth.trustForwardedHeaders = true;
      });
      const fixed = await startAuthServer((c) => {
        c.auth.realm = 'https://auth.example.com/token';
      });
      try {
        expect(await realmFor(untrusted, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'proxy.example.com' })).toBe(`${untrusted.server.url}/token`);
        expect(await realmFor(trusted, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'proxy.example.com, other' })).toBe('https://proxy.example.com/token');
        expect(await realmFor(fixed, { Host: 'whatever:1' })).toBe('https://auth.example.com/token');
      } finally {
        await untrusted.cleanup();
        await trusted.cleanup();
        await fixed.cleanup();
      }
    });
  });

  describe('what tokens let through', () => {
    it('lets anonymous callers pull public repositories without any token, and nothing else', async () => {
      expect((await s.client.get(manifestPath('public/tool', 'v1'))).status).toBe(200);
      expect((await s.client.request('POST', '/v2/public/tool/blobs/uploads/')).status).toBe(401);
      const anonymous = await getToken(s.client, undefined, ['repository:public/tool:pull', 'repository:team-a/app:pull']);
      expect((await s.client.get('/v2/', bearer(anonymous))).status).toBe(200);
      expect((await s.client.get(manifestPath('public/tool', 'v1'), bearer(anonymous))).status).toBe(200);
      const refused = await s.client.get(manifestPath('team-a/app', 'v1'), bearer(anonymous));
      expect(refused.status).toBe(401); // signing in could help: a challenge, not a denial
      expect(challenge(refused)).toMatchObject({ scope: 'repository:team-a/app:pull', error: 'insufficient_scope' });
    });

    it('lets a member push and a pull-only user pull, and denies that user a push (403 DENIED)', async () => {
      const carol = await getToken(s.client, 'carol', ['repository:team-a/app:pull,push']);
      expect((await s.client.get(manifestPath('team-a/app', 'v1'), bearer(carol))).status).toBe(200);
      const push = await s.client.request('POST', '/v2/team-a/app/blobs/uploads/', { headers: bearer(carol) });
      expect(push.status).toBe(403);
      expect(errorCode(push)).toBe('DENIED');
      expect(challenge(push)).toMatchObject({ scope: 'repository:team-a/app:pull,push', error: 'insufficient_scope' });
      const put = await s.client.request('PUT', manifestPath('team-a/app', 'evil'), {
        body: '{}',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...bearer(carol) },
      });
      expect(put.status).toBe(403);
    });

    it('refuses a pull token used to push (401 insufficient_scope: the user could ask for push)', async () => {
      const pullOnly = await getToken(s.client, 'alice', ['repository:team-a/app:pull']);
      const res = await postBlob(s.client, 'team-a/app', Buffer.from('x'), bearer(pullOnly));
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
      expect(challenge(res)).toMatchObject({ scope: 'repository:team-a/app:pull,push', error: 'insufficient_scope' });
      const del = await s.client.request('DELETE', manifestPath('team-a/app', 'v1'), { headers: bearer(pullOnly) });
      expect(del.status).toBe(401);
    });

    it('refuses a token for repository A on repository B', async () => {
      const res = await s.client.get(manifestPath('team-a/other', 'v1'), bearer(alice));
      expect(res.status).toBe(401);
      expect(challenge(res)).toMatchObject({ scope: 'repository:team-a/other:pull', error: 'insufficient_scope' });
      const carol = await getToken(s.client, 'carol', ['repository:team-a/app:pull']);
      const elsewhere = await s.client.get(manifestPath('alice/src', 'v1'), bearer(carol));
      expect(elsewhere.status).toBe(403); // carol may not pull alice/* at all
      expect(errorCode(elsewhere)).toBe('DENIED');
    });

    it('refuses what a crafted scope string tried to get', async () => {
      const query = new URLSearchParams({ service: 'berth-test' });
      for (const scope of ['repository:team-a/app:pull repository:alice/src:push', 'repository(plugin):alice/src:pull,push', 'repository:alice/src:*']) {
        query.append('scope', scope);
      }
      const reply = await s.client.get(`/token?${query}`, { Authorization: basic('carol', PASSWORDS.carol!) });
      expect(reply.status).toBe(200);
      const token = reply.json.token as string;
      expect((await s.client.get(manifestPath('team-a/app', 'v1'), bearer(token))).status).toBe(200);
      expect((await s.client.get(manifestPath('alice/src', 'v1'), bearer(token))).status).toBe(403);
      expect((await postBlob(s.client, 'alice/src', Buffer.from('y'), bearer(token))).status).toBe(403);
      expect((await postBlob(s.client, 'team-a/app', Buffer.from('y'), bearer(token))).status).toBe(403);
    });
  });

  describe('forged and broken tokens (401 UNAUTHORIZED, error="invalid_token")', () => {
    const ACCESS = [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }];
    let other: KeyObject;
    beforeAll(() => {
      other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    });

    async function refused(token: string, message: RegExp): Promise<void> {
      const res = await s.client.get(manifestPath('team-a/app', 'v1'), bearer(token));
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
      expect(res.json.errors[0].message).toMatch(message);
      expect(challenge(res)).toMatchObject({ realm: `${s.server.url}/token`, service: 'berth-test', error: 'invalid_token' });
    }

    it('accepts the well-formed control token', async () => {
      const token = await forgeToken(ACCESS, { key: key.key, kid: key.kid });
      expect((await s.client.get(manifestPath('team-a/app', 'v1'), bearer(token))).status).toBe(200);
    });

    it('expired', async () => refused(await forgeToken(ACCESS, { key: key.key, kid: key.kid, exp: -120 }), /expired/));
    it('not yet valid', async () => refused(await forgeToken(ACCESS, { key: key.key, kid: key.kid, nbf: 600, exp: 900 }), /not yet valid/));
    it('signed by another key', async () => refused(await forgeToken(ACCESS, { key: other, kid: key.kid }), /signature/));
    it('wrong audience', async () => refused(await forgeToken(ACCESS, { key: key.key, kid: key.kid, aud: 'someone-else' }), /another service/));
    it('wrong issuer', async () => refused(await forgeToken(ACCESS, { key: key.key, kid: key.kid, iss: 'evil-issuer' }), /untrusted issuer/));

    it('tampered payload (pull token made into pull+push+delete)', async () => {
      const [h, p, sig] = (await forgeToken([{ type: 'repository', name: 'team-a/app', actions: ['pull'] }], { key: key.key, kid: key.kid })).split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      claims.access[0].actions.push('push', 'delete');
      await refused(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`, /signature/);
    });

    it('alg none', async () => {
      const now = Math.floor(Date.now() / 1000);
      const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const p = Buffer.from(JSON.stringify({ iss: 'berth-test-issuer', aud: 'berth-test', sub: 'alice', exp: now + 300, access: ACCESS })).toString('base64url');
      await refused(`${h}.${p}.`, /malformed/);
      await refused(`${h}.${p}.AAAA`, /algorithm not allowed/);
    });

    it('HS256 with the public key as the secret (algorithm confusion)', async () => {
      const pem = createPublicKey(key.key).export({ type: 'spki', format: 'pem' });
      const token = await new SignJWT({ access: ACCESS })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
        .setIssuer('berth-test-issuer')
        .setAudience('berth-test')
        .setSubject('alice')
        .setExpirationTime('5m')
        .sign(Buffer.from(pem));
      await refused(token, /algorithm not allowed/);
    });

    it('a refresh token presented as an access token', async () => {
      const reply = await s.client.get('/token?service=berth-test&offline_token=true', { Authorization: basic('alice', PASSWORDS.alice!) });
      await refused(reply.json.refresh_token as string, /not an access token/);
    });
  });

  describe('garbage Authorization headers: a clean 401 (or 431 past Node\'s header limit), never a 500', () => {
    it.each([
      ['an empty bearer', 'Bearer'],
      ['a bearer of spaces', 'Bearer    '],
      ['two dots', 'Bearer a.b.c'],
      ['JSON', 'Bearer {"alg":"none"}'],
      ['bad base64 basic', 'Basic !!!'],
      ['basic without a colon', `Basic ${Buffer.from('nocolon').toString('base64')}`],
      ['an unknown scheme', 'Digest username="alice"'],
      ['a bare word', 'garbage'],
      ['an oversize bearer', `Bearer ${'a'.repeat(9000)}`],
      ['an oversize basic', `Basic ${'QUFB'.repeat(3000)}`],
    ])('%s', async (_why, header) => {
      const res = await s.client.get(manifestPath('public/tool', 'v1'), { Authorization: header });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    });

    it('a header past Node\'s 16 KiB limit, and raw non-ASCII bytes', async () => {
      expect((await s.client.get('/v2/', { Authorization: `Bearer ${'a'.repeat(20_000)}` })).status).toBe(431);
      const status = await new Promise<string>((resolve, reject) => {
        const socket = connect(s.server.port, '127.0.0.1', () => {
          socket.write(Buffer.concat([Buffer.from('GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\r\nConnection: close\r\n\r\n')]));
        });
        let data = '';
        socket.on('data', (d) => (data += d.toString('latin1')));
        socket.on('end', () => resolve(data.split('\r\n')[0]!));
        socket.on('error', reject);
      });
      expect(status).toMatch(/^HTTP\/1\.1 (400|401)/);
    });
  });

  describe('catalog and mounts', () => {
    let ci: string;
    beforeAll(async () => {
      await pushImage(s.client, 'alice/src', 'v1', alice);
    });

    it('lists only what the caller may pull', async () => {
      const list = async (user: string | undefined) => {
        const token = await getToken(s.client, user, ['registry:catalog:*']);
        const res = await s.client.get('/v2/_catalog', bearer(token));
        expect(res.status).toBe(200);
        return res.json.repositories as string[];
      };
      expect(await list(undefined)).toEqual(['public/tool']);
      expect(await list('dave')).toEqual(['public/tool']);
      expect(await list('carol')).toEqual(['public/tool', 'team-a/app']);
      expect(await list('alice')).toEqual(['alice/src', 'public/tool', 'team-a/app']);
      const noCatalog = await s.client.get('/v2/_catalog', bearer(alice));
      expect(noCatalog.status).toBe(401);
      expect(challenge(noCatalog)).toMatchObject({ scope: 'registry:catalog:*', error: 'insufficient_scope' });
    });

    it('mounts only from a repository the caller may pull (pull on the source, push on the target)', async () => {
      const blob = Buffer.from(`secret layer ${Math.random()}`);
      expect((await postBlob(s.client, 'alice/src', blob, bearer(alice))).status).toBe(201);
      // ci may push team-a/* but not pull alice/*: asking for the source scope gets it nothing
      ci = await getToken(s.client, 'ci', ['repository:team-a/dst:pull,push', 'repository:alice/src:pull']);
      const mount = await s.client.request('POST', `/v2/team-a/dst/blobs/uploads/?mount=${sha256(blob)}&from=alice/src`, { headers: bearer(ci) });
      expect(mount.status).toBe(202); // a fresh upload, as if the source had no such blob
      const auto = await s.client.request('POST', `/v2/team-a/dst/blobs/uploads/?mount=${sha256(blob)}`, { headers: bearer(ci) });
      expect(auto.status).toBe(202);
      expect((await s.client.head(`/v2/team-a/dst/blobs/${sha256(blob)}`, bearer(ci))).status).toBe(404);
      // alice may pull the source and push the target: mounted
      const both = await getToken(s.client, 'alice', ['repository:team-a/dst:pull,push', 'repository:alice/src:pull']);
      const ok = await s.client.request('POST', `/v2/team-a/dst/blobs/uploads/?mount=${sha256(blob)}&from=alice/src`, { headers: bearer(both) });
      expect(ok.status).toBe(201);
      // and push on the target is needed whatever the source
      const carol = await getToken(s.client, 'carol', ['repository:team-a/dst:pull,push', 'repository:public/tool:pull']);
      expect((await s.client.request('POST', `/v2/team-a/dst/blobs/uploads/?mount=${sha256(blob)}&from=public/tool`, { headers: bearer(carol) })).status).toBe(403);
    });
  });

  describe('Basic credentials on /v2 (curl, scripts)', () => {
    it('are checked like a login and judged by the rules', async () => {
      expect((await s.client.get(manifestPath('team-a/app', 'v1'), { Authorization: basic('carol', PASSWORDS.carol!) })).status).toBe(200);
      const push = await s.client.request('POST', '/v2/team-a/app/blobs/uploads/', { headers: { Authorization: basic('carol', PASSWORDS.carol!) } });
      expect(push.status).toBe(403);
      expect(errorCode(push)).toBe('DENIED');
      const wrong = await s.client.get('/v2/', { Authorization: basic('carol', 'wrong') });
      expect(wrong.status).toBe(401);
      expect(errorCode(wrong)).toBe('UNAUTHORIZED');
      expect((await s.client.get('/v2/', { Authorization: basic('alice', PASSWORDS.alice!) })).status).toBe(200);
    });
  });

  describe('robot tokens at the registry', () => {
    it('stop working when revoked', async () => {
      const robots = new RobotStore(createFilesystemDriver(s.root));
      const { record, secret } = await robots.create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull,push')], expiresIn: 3600 });
      const token = await getToken(s.client, 'ci', ['repository:team-a/robot:pull,push'], secret);
      expect((await pushImage(s.client, 'team-a/robot', 'v1', token)).startsWith('sha256:')).toBe(true);
      await robots.revoke(record.id);
      const reply = await s.client.get('/token?service=berth-test&scope=repository:team-a/robot:pull', { Authorization: basic('ci', secret) });
      expect(reply.status).toBe(401);
      // Access tokens already issued stop within the robot cache's few seconds (not waited for here).
    });
  });

  describe('internal tokens (the build pusher)', () => {
    it('carry exactly their access list', async () => {
      const token = (await s.server.app.auth.issueInternalToken('berth-builds', 'team-a/built', ['pull', 'push'], 60))!;
      await pushImage(s.client, 'team-a/built', 'v1', token);
      expect((await postBlob(s.client, 'team-a/other', Buffer.from('z'), bearer(token))).status).toBe(401);
      expect((await s.client.get(manifestPath('public/tool', 'v1'), bearer(token))).status).toBe(401);
    });
  });
});
