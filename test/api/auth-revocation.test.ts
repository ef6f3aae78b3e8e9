/**
 * Removing a user, changing a password or revoking a robot token counts at once for HTTP Basic
 * on /v2/, on every replica (issue 16, item 11), and a revoked token still used by CI slows down
 * that token, not its human (item 12).
 */
import { readFile, writeFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRobotScope, RobotStore } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { type AuthServer, basic, PASSWORDS, startAuthServer, tokenReply } from '../helpers/auth-server.js';
import { Client } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('revocation on every replica', { timeout: 60_000 }, () => {
  let s: AuthServer;
  let replica: TestServer;
  let clients: Client[];
  let robots: RobotStore;

  beforeAll(async () => {
    s = await startAuthServer();
    replica = await startTestServer(s.config); // a second Berth on the same storage and users file
    clients = [s.client, new Client(replica.url)];
    robots = new RobotStore(createFilesystemDriver(s.root));
  });
  afterAll(async () => {
    await replica?.close();
    await s?.cleanup();
  });

  const statuses = (authorization: string) => Promise.all(clients.map(async (c) => (await c.get('/v2/', { Authorization: authorization })).status));

  it('a revoked robot token stops working for Basic at once', async () => {
    const { record, secret } = await robots.create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 3600 });
    expect(await statuses(basic('ci', secret))).toEqual([200, 200]);
    expect(await statuses(basic('ci', secret))).toEqual([200, 200]); // cached now
    await robots.revoke(record.id);
    expect(await statuses(basic('ci', secret))).toEqual([401, 401]);
  });

  it('a removed user, or a changed password, stops working for Basic at once', async () => {
    const carol = basic('carol', PASSWORDS.carol!);
    const bob = basic('bob', PASSWORDS.bob!);
    expect(await statuses(carol)).toEqual([200, 200]);
    expect(await statuses(bob)).toEqual([200, 200]);
    const lines = (await readFile(s.usersFile, 'utf8')).split('\n');
    const rest = lines.filter((line) => !line.startsWith('carol:') && !line.startsWith('bob:'));
    await writeFile(s.usersFile, `${rest.join('\n')}bob:${bcrypt.hashSync('a-new-password-for-bob', 4)}\n`);
    expect(await statuses(carol)).toEqual([401, 401]);
    expect(await statuses(bob)).toEqual([401, 401]);
    expect(await statuses(basic('bob', 'a-new-password-for-bob'))).toEqual([200, 200]);
  });
});

describe('a revoked token still in use', { timeout: 60_000 }, () => {
  let s: AuthServer;

  beforeAll(async () => {
    s = await startAuthServer((c) => {
      c.auth.loginBackoff = { freeAttempts: 3, baseDelayMs: 5000, maxDelayMs: 5000, forgetAfter: 60 };
    });
  });
  afterAll(async () => s?.cleanup());

  it('slows down that token, not its user, and the log names the token', async () => {
    const robots = new RobotStore(createFilesystemDriver(s.root));
    const { record, secret } = await robots.create({ user: 'dave', scopes: [parseRobotScope('repository:public/*:pull')], expiresIn: 3600 });
    await robots.revoke(record.id);
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      seen.push((await tokenReply(s.client, 'dave', [], secret)).status);
      seen.push((await s.client.get('/v2/', { Authorization: basic('dave', secret) })).status);
    }
    expect(seen.slice(0, 3)).toEqual([401, 401, 401]);
    expect(seen.slice(3).every((status) => status === 429)).toBe(true);
    const refused = await tokenReply(s.client, 'dave', [], secret);
    expect(refused.json.details).toMatch(/too many failed sign-ins for this token/);
    // dave himself is not locked out
    expect((await tokenReply(s.client, 'dave', [])).status).toBe(200);
    expect((await s.client.get('/v2/', { Authorization: basic('dave', PASSWORDS.dave!) })).status).toBe(200);
    const failures = s.server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sign-in failed'));
    expect(failures.some((l) => l.msg === `sign-in failed: revoked token ${record.id.slice(0, 4)}...` && l.robotToken === `${record.id.slice(0, 4)}...`)).toBe(true);
    expect(failures.some((l) => l.msg === 'sign-in failed')).toBe(false);
  });
});
