/** The `auth:` config: defaults, the example team config, environment keys, cross-key checks. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { tempDir } from '../helpers/tmp.js';

const EXAMPLE = join(import.meta.dirname, '../../config/examples/team.yaml');

describe('auth config', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir('berth-auth-config-');
  });
  afterEach(async () => dir.remove());

  async function file(text: string): Promise<string> {
    await mkdir(join(dir.path, 'etc'), { recursive: true });
    const path = join(dir.path, 'etc', 'berth.yaml');
    await writeFile(path, text);
    return path;
  }

  it('defaults to mode none, with token settings ready for mode token', () => {
    const { auth } = loadConfig({ env: {}, cwd: '/srv' });
    expect(auth).toMatchObject({
      mode: 'none',
      signingKeyFile: '',
      signingAlgorithm: 'ES256',
      tokenTtl: 300,
      usersFile: '/srv/users.htpasswd',
      loginBackoff: { freeAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60000 },
      external: { issuer: '', jwksFile: '', certificateFile: '' },
    });
  });

  it('reads the example team config', () => {
    const { auth } = loadConfig({ file: EXAMPLE, env: {} });
    expect(auth.mode).toBe('token');
    expect(auth.usersFile).toBe(join(import.meta.dirname, '../../config/examples/users.htpasswd'));
    expect(auth.rules[0]).toEqual({ repository: 'public/*', anonymous: ['pull'] });
    expect(auth.rules.at(-1)).toEqual({ repository: '*', authenticated: [] });
    expect(auth.teams.dev).toEqual(['alice', 'bob']);
  });

  it('resolves key files against the config file, from the environment against the cwd; empty stays unset', async () => {
    const path = await file('auth:\n  signingKeyFile: keys/signing.pem\n  external:\n    issuer: other\n    certificateFile: ""\n');
    const fromFile = loadConfig({ file: path, env: {} }).auth;
    expect(fromFile.signingKeyFile).toBe(join(dir.path, 'etc/keys/signing.pem'));
    expect(fromFile.external.certificateFile).toBe('');
    const fromEnv = loadConfig({
      file: path,
      env: { BERTH_AUTH_SIGNINGKEYFILE: 'k.pem', BERTH_AUTH_LOGINBACKOFF_FREEATTEMPTS: '2', BERTH_AUTH_EXTERNAL_JWKSFILE: 'j.json' },
      cwd: '/work',
    }).auth;
    expect(fromEnv.signingKeyFile).toBe('/work/k.pem');
    expect(fromEnv.loginBackoff.freeAttempts).toBe(2);
    expect(fromEnv.external.jwksFile).toBe('/work/j.json');
  });

  it.each([
    ['a bad algorithm', 'auth:\n  signingAlgorithm: HS256\n', /auth\.signingAlgorithm: must be one of ES256, RS256/],
    ['a too short token lifetime', 'auth:\n  tokenTtl: 10\n', /auth\.tokenTtl: must be at least 60/],
    ['a realm that is no URL', 'auth:\n  realm: "evil\\"quote"\n', /auth\.realm/],
    ['a service with a quote', 'auth:\n  service: \'a"b\'\n', /auth\.service/],
    ['a bad robot expiry', 'auth:\n  robotTokenExpiry: soon\n', /auth\.robotTokenExpiry/],
    ['a rule with two subjects', 'auth:\n  rules:\n    - { repository: "*", user: a, team: b, actions: [pull] }\n', /exactly one of/],
    ['a rule with an unknown action', 'auth:\n  rules:\n    - { repository: "*", anonymous: [admin] }\n', /must be a list of pull, push, delete/],
  ])('refuses %s', async (_why, text, message) => {
    const path = await file(text);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(message);
  });

  it.each([
    ['an external issuer without keys', { external: { issuer: 'other', jwksFile: '', certificateFile: '' } }, /set jwksFile or certificateFile/],
    ['external keys without an issuer', { external: { issuer: '', jwksFile: '/x.json', certificateFile: '' } }, /must be set when/],
    ['an external issuer named like ours', { issuer: 'same', external: { issuer: 'same', jwksFile: '/x', certificateFile: '' } }, /must differ/],
    ['a backoff bound below its start', { loginBackoff: { freeAttempts: 1, baseDelayMs: 5000, maxDelayMs: 100, forgetAfter: 60 } }, /maxDelayMs/],
  ])('refuses at start %s', async (_why, overrides, message) => {
    const config = loadConfig({ env: {} });
    const auth = { ...config.auth, mode: 'token' as const, ...overrides };
    await expect(createAuth(auth, { driver: createMemoryDriver(), log: pino({ level: 'silent' }), listen: config.listen })).rejects.toThrow(message);
  });
});
