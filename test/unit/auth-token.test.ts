/**
 * Tokens: issue and verify, every forged or broken token refused with its reason, the cache,
 * the signing key kept in storage (one key however many replicas start at once), and an external
 * issuer trusted through a JWKS file or a PEM certificate.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { base64url, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthConfig } from '../../src/auth/config.js';
import { libtrustKeyId, loadExternalKeys, loadSigningKey, ownVerificationKey, SIGNING_KEY_PATH, type SigningKey } from '../../src/auth/keys.js';
import { tokenAllows, TokenError, TokenService } from '../../src/auth/token.js';
import { loadConfig } from '../../src/config.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { forgeToken } from '../helpers/auth-server.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

function authConfig(overrides: Partial<AuthConfig> = {}): AuthConfig {
  return { ...loadConfig({ env: {} }).auth, mode: 'token', service: 'berth-test', issuer: 'berth-test-issuer', ...overrides };
}

const ACCESS = [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }];

describe('tokens', () => {
  let signing: SigningKey;
  let service: TokenService;
  const config = authConfig();

  beforeAll(async () => {
    signing = await loadSigningKey(config, createMemoryDriver(), log);
    service = new TokenService(config, signing, [ownVerificationKey(signing)], []);
  });

  it('issues an ES256 JWT with the claims the spec names and a kid, and verifies it', async () => {
    const { token, expiresIn, issuedAt } = await service.issueAccess({ subject: 'alice', access: ACCESS });
    expect(expiresIn).toBe(300);
    expect(Date.parse(issuedAt)).toBeGreaterThan(Date.now() - 5000);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(new TextDecoder().decode(base64url.decode(part))));
    expect(header).toEqual({ alg: 'ES256', kid: signing.kid, typ: 'JWT' });
    expect(Object.keys(payload).sort()).toEqual(['access', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'sub']);
    expect(payload).toMatchObject({ iss: 'berth-test-issuer', sub: 'alice', aud: 'berth-test', access: ACCESS });
    expect(payload.exp - payload.iat).toBe(300);
    const verified = await service.verifyAccess(token);
    expect(verified).toMatchObject({ issuer: 'own', subject: 'alice', internal: false });
    expect(tokenAllows(verified, 'repository', 'team-a/app', 'pull')).toBe(true);
    expect(tokenAllows(verified, 'repository', 'team-a/app', 'push')).toBe(false);
    expect(tokenAllows(verified, 'repository', 'team-a/other', 'pull')).toBe(false);
  });

  it('publishes the public key only', () => {
    const { keys } = service.jwks() as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: signing.kid, alg: 'ES256', use: 'sig' });
    expect(keys[0]!.d).toBeUndefined();
  });

  it('caches a verified token by its string until it expires', async () => {
    let now = Date.now();
    const clocked = new TokenService(config, signing, [ownVerificationKey(signing)], [], () => now);
    const { token } = await clocked.issueAccess({ subject: 'alice', access: ACCESS, ttl: 60 });
    const first = await clocked.verifyAccess(token);
    expect(await clocked.verifyAccess(token)).toBe(first); // the same object: no second verification
    now += 60_000 + config.clockSkew * 1000 + 1000;
    await expect(clocked.verifyAccess(token)).rejects.toThrow('token expired');
  });

  describe('refuses', () => {
    let other: KeyObject;
    let rsa: KeyObject;
    beforeAll(() => {
      other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    });

    const refused = async (token: string, message: string | RegExp) => {
      const err = await service.verifyAccess(token).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenError);
      expect((err as Error).message).toMatch(message);
    };

    it('an expired token (beyond the clock skew)', async () => {
      await refused(await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid, exp: -config.clockSkew - 5 }), 'token expired');
    });

    it('but accepts one expired within the clock skew', async () => {
      const token = await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid, exp: -5 });
      expect((await service.verifyAccess(token)).subject).toBe('alice');
    });

    it('a token not yet valid', async () => {
      await refused(await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid, nbf: 3600, exp: 7200 }), 'token not yet valid');
    });

    it('a token signed by another key (with our kid, and without)', async () => {
      await refused(await forgeToken(ACCESS, { key: other, kid: signing.kid }), 'invalid token signature');
      await refused(await forgeToken(ACCESS, { key: other }), 'invalid token signature');
    });

    it('a tampered payload', async () => {
      const [h, p, s] = (await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid })).split('.');
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
      claims.access[0].actions = ['pull', 'push', 'delete'];
      await refused(`${h}.${base64url.encode(JSON.stringify(claims))}.${s}`, 'invalid token signature');
    });

    it('alg none (with or without a signature part)', async () => {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const now = Math.floor(Date.now() / 1000);
      const payload = base64url.encode(JSON.stringify({ iss: 'berth-test-issuer', aud: 'berth-test', sub: 'alice', exp: now + 300, access: ACCESS }));
      await refused(`${header}.${payload}.`, 'malformed token');
      await refused(`${header}.${payload}.c2ln`, 'token algorithm not allowed');
    });

    it('HS256 keyed with the public key (algorithm confusion)', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(signing.publicJwk));
      const pem = createPublicKey(signing.privateKey).export({ type: 'spki', format: 'pem' });
      for (const key of [secret, Buffer.from(pem)]) {
        const now = Math.floor(Date.now() / 1000);
        const token = await new SignJWT({ access: ACCESS })
          .setProtectedHeader({ alg: 'HS256', kid: signing.kid, typ: 'JWT' })
          .setIssuer('berth-test-issuer')
          .setAudience('berth-test')
          .setSubject('alice')
          .setExpirationTime(now + 300)
          .sign(key);
        await refused(token, 'token algorithm not allowed');
      }
    });

    it('an RS256 token where our key is ES256 (algorithm not that key\'s)', async () => {
      await refused(await forgeToken(ACCESS, { key: rsa, alg: 'RS256', kid: signing.kid }), /algorithm not allowed|invalid token signature/);
    });

    it('a wrong audience', async () => {
      await refused(await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid, aud: 'other-registry' }), 'token is for another service');
    });

    it('a wrong issuer (even when signed by our key)', async () => {
      await refused(await forgeToken(ACCESS, { key: signing.privateKey, kid: signing.kid, iss: 'evil' }), 'untrusted issuer');
    });

    it('a token without exp', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access: ACCESS })
        .setProtectedHeader({ alg: 'ES256', kid: signing.kid, typ: 'JWT' })
        .setIssuer('berth-test-issuer')
        .setAudience('berth-test')
        .setSubject('alice')
        .setIssuedAt(now)
        .sign(signing.privateKey);
      await refused(token, /exp/);
    });

    it('a refresh token used as an access token', async () => {
      const refresh = (await service.issueRefresh({ subject: 'alice', fingerprint: 'x' }))!;
      await refused(refresh, 'not an access token');
      await expect(service.verifyRefresh(refresh)).resolves.toEqual({ subject: 'alice', fingerprint: 'x' });
      const access = (await service.issueAccess({ subject: 'alice', access: ACCESS })).token;
      await expect(service.verifyRefresh(access)).rejects.toThrow(TokenError);
    });

    it('a malformed access claim', async () => {
      await refused(await forgeToken([], { key: signing.privateKey, kid: signing.kid, payload: { access: 'everything' } }), 'invalid access claim');
      await refused(await forgeToken([], { key: signing.privateKey, kid: signing.kid, payload: { access: [{ type: 'repository', name: 'x', actions: 'pull' }] } }), 'invalid access claim');
    });

    it('garbage and oversize strings', async () => {
      for (const garbage of ['', 'abc', 'a.b', 'a.b.c.d', '!!!.???.###', `${'a'.repeat(9000)}.b.c`, 'eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln']) {
        await refused(garbage, /malformed|not allowed|issuer/);
      }
    });
  });
});

describe('the signing key in storage', () => {
  it('is generated once: replicas starting together agree on one key', async () => {
    const driver = createMemoryDriver();
    const config = authConfig();
    const keys = await Promise.all(Array.from({ length: 5 }, () => loadSigningKey(config, driver, log)));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    const stored = JSON.parse((await driver.getContent(SIGNING_KEY_PATH)).toString());
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect((await loadSigningKey(config, driver, log)).kid).toBe(keys[0]!.kid);
  });

  it('refuses a stored key of another algorithm than configured, saying what to do', async () => {
    const driver = createMemoryDriver();
    await loadSigningKey(authConfig(), driver, log);
    await expect(loadSigningKey(authConfig({ signingAlgorithm: 'RS256' }), driver, log)).rejects.toThrow(/is ES256 but auth.signingAlgorithm is RS256/);
  });

  it('signs RS256 when configured, from storage or from a PEM file', async () => {
    const fromStorage = await loadSigningKey(authConfig({ signingAlgorithm: 'RS256' }), createMemoryDriver(), log);
    expect(fromStorage.publicJwk).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'key.pem');
      await writeFile(file, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }));
      const config = authConfig({ signingAlgorithm: 'RS256', signingKeyFile: file });
      const key = await loadSigningKey(config, createMemoryDriver(), log);
      const service = new TokenService(config, key, [ownVerificationKey(key)], []);
      const { token } = await service.issueAccess({ subject: 'bob', access: ACCESS });
      expect(JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[0]!))).alg).toBe('RS256');
      expect((await service.verifyAccess(token)).subject).toBe('bob');
      // an EC key file does not fit RS256
      await writeFile(file, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await expect(loadSigningKey(config, createMemoryDriver(), log)).rejects.toThrow(/RS256 needs an RSA key/);
    } finally {
      await dir.remove();
    }
  });
});

describe('an external issuer', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let externalKey: KeyObject;
  let own: SigningKey;
  beforeAll(async () => {
    dir = await tempDir();
    own = await loadSigningKey(authConfig(), createMemoryDriver(), log);
    // A token server's key and self-signed certificate, as docker_auth is set up.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=auth.example.com',
      '-keyout', join(dir.path, 'auth.key'), '-out', join(dir.path, 'auth.crt')], { stdio: 'ignore' });
    externalKey = createPrivateKey(execFileSync('cat', [join(dir.path, 'auth.key')]));
    await writeFile(join(dir.path, 'jwks.json'), JSON.stringify({ keys: [{ ...createPublicKey(externalKey).export({ format: 'jwk' }), kid: 'ext-1' }] }));
  });
  afterAll(async () => dir.remove());

  for (const kind of ['certificateFile', 'jwksFile'] as const) {
    it(`accepts its tokens through a ${kind}, and only its tokens`, async () => {
      const file = join(dir.path, kind === 'jwksFile' ? 'jwks.json' : 'auth.crt');
      const config = authConfig({ external: { issuer: 'auth.example.com', jwksFile: '', certificateFile: '', [kind]: file } });
      const service = new TokenService(config, own, [ownVerificationKey(own)], await loadExternalKeys(config, log));
      const kid = kind === 'jwksFile' ? 'ext-1' : libtrustKeyId(createPublicKey(externalKey));
      const token = await forgeToken(ACCESS, { key: externalKey, kid, iss: 'auth.example.com', sub: 'ext-user' });
      const verified = await service.verifyAccess(token);
      expect(verified).toMatchObject({ issuer: 'external', subject: 'ext-user', internal: false });
      expect(tokenAllows(verified, 'repository', 'team-a/app', 'pull')).toBe(true);
      // without a kid the key is still found (a short list to try)
      expect((await service.verifyAccess(await forgeToken(ACCESS, { key: externalKey, iss: 'auth.example.com' }))).issuer).toBe('external');
      // our own issuer name with the external key, or the external name with our key: refused
      await expect(service.verifyAccess(await forgeToken(ACCESS, { key: externalKey, kid }))).rejects.toThrow('invalid token signature');
      await expect(service.verifyAccess(await forgeToken(ACCESS, { key: own.privateKey, kid: own.kid, iss: 'auth.example.com' }))).rejects.toThrow(
        'invalid token signature',
      );
      await expect(service.verifyAccess(await forgeToken(ACCESS, { key: externalKey, kid, iss: 'auth.example.com', aud: 'elsewhere' }))).rejects.toThrow(
        'another service',
      );
    });
  }

  it('refuses symmetric keys in the JWKS', async () => {
    await writeFile(join(dir.path, 'oct.json'), JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
    const config = authConfig({ external: { issuer: 'x', jwksFile: join(dir.path, 'oct.json'), certificateFile: '' } });
    await expect(loadExternalKeys(config, log)).rejects.toThrow(/symmetric/);
  });

  it('computes Docker libtrust key ids', () => {
    expect(libtrustKeyId(createPublicKey(externalKey))).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });
});
