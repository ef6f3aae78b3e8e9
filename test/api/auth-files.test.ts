/**
 * Berth's secret state on disk (issue 15, "Also"): the token signing key, robot tokens and the
 * folders above them are private to Berth's user (0600 files, 0700 folders), and a start on state
 * that others on the host can read says so, naming each file.
 */
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRobotScope, RobotStore } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { startTestServer } from '../helpers/server.js';

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('secret files on the filesystem', { timeout: 60_000 }, () => {
  let s: AuthServer;
  let tokenFile: string;

  beforeAll(async () => {
    s = await startAuthServer();
    const { record } = await new RobotStore(createFilesystemDriver(s.root)).create({ user: 'ci', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 600 });
    tokenFile = join(s.root, '_berth/auth/tokens', `${record.id}.json`);
  });
  afterAll(async () => s?.cleanup());

  it('creates the signing key and robot tokens 0600, in folders 0700', async () => {
    expect(await mode(join(s.root, '_berth/auth/signing-key.jwk'))).toBe(0o600);
    expect(await mode(tokenFile)).toBe(0o600);
    for (const dir of ['_berth', '_berth/auth', '_berth/auth/tokens']) expect(await mode(join(s.root, dir)), dir).toBe(0o700);
    expect(s.server.logs.some((l) => String(l.msg).includes('readable by other users'))).toBe(false);
  });

  it('warns at start about each secret file other users of the host can read', async () => {
    await s.server.close();
    for (const dir of ['', '_berth', '_berth/auth', '_berth/auth/tokens']) await chmod(join(s.root, dir), 0o755);
    await chmod(join(s.root, '_berth/auth/signing-key.jwk'), 0o644);
    await chmod(tokenFile, 0o640);
    await chmod(s.usersFile, 0o644);
    const again = await startTestServer(s.config);
    try {
      const warnings = again.logs.filter((l) => l.level === 40 && String(l.msg).includes('readable by other users'));
      const files = warnings.map((l) => l.file as string).sort();
      expect(files).toEqual([join(s.root, '_berth/auth/signing-key.jwk'), tokenFile, s.usersFile].sort());
      expect(warnings[0]!.msg).toMatch(/chmod/);
    } finally {
      await again.close();
    }
  });
});
