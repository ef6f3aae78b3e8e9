/** `berth user ...` and `berth token ...` as an admin runs them: real processes on a temp config. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHtpasswd } from '../../src/auth/users.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');

async function berth(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('berth user and berth token', { timeout: 60_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let config: string;
  let usersFile: string;
  const users = async () => parseHtpasswd(await readFile(usersFile, 'utf8'));

  beforeAll(async () => {
    dir = await tempDir('berth-auth-cli-');
    config = join(dir.path, 'berth.yaml');
    usersFile = join(dir.path, 'users.htpasswd');
    await writeFile(config, 'storage:\n  filesystem:\n    root: ./data\nauth:\n  mode: token\n  usersFile: ./users.htpasswd\n');
  });
  afterAll(async () => dir.remove());

  it('adds a user from stdin, dropping one trailing newline, in a new file of mode 0600', async () => {
    const res = await berth(['user', 'add', 'alice', '--password-stdin', '--config', config], 'correct horse\n');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/added user alice/);
    expect((await stat(usersFile)).mode & 0o777).toBe(0o600);
    const hash = (await users()).get('alice')!;
    expect(hash).toMatch(/^\$2[aby]\$10\$/);
    expect(await bcrypt.compare('correct horse', hash)).toBe(true);
    expect(res.stdout + res.stderr).not.toContain('correct horse');
  });

  it('keeps a password without a trailing newline as it is', async () => {
    expect((await berth(['user', 'add', 'bob', '--password-stdin', '--config', config], 'no-newline-at-all')).code).toBe(0);
    expect(await bcrypt.compare('no-newline-at-all', (await users()).get('bob')!)).toBe(true);
  });

  it('refuses a second add, bad names, empty, multi-line and over-long passwords', async () => {
    const add = (name: string, stdin?: string) => berth(['user', 'add', name, ...(stdin === undefined ? [] : ['--password-stdin']), '--config', config], stdin);
    // Independent refusals (nothing is written): run them side by side.
    const [again, badName, empty, twoLines, tooLong, noStdin] = await Promise.all([
      add('alice', 'x\n'),
      add('bad:name', 'x\n'),
      add('carol', '\n'),
      add('carol', 'a\nb\n'),
      add('carol', `${'x'.repeat(73)}\n`),
      add('carol'),
    ]);
    expect(again.code).toBe(1);
    expect(badName.code).toBe(2);
    expect(empty.stderr).toMatch(/empty/);
    expect(twoLines.stderr).toMatch(/one line/);
    expect(tooLong.stderr).toMatch(/72 bytes/);
    expect(noStdin.stderr).toMatch(/--password-stdin/);
    expect([...(await users()).keys()]).toEqual(['alice', 'bob']);
  });

  it('refuses passwords shorter than 12 characters', async () => {
    const short = await berth(['user', 'add', 'carol', '--password-stdin', '--config', config], 'elevenchars\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 12 characters/);
    expect((await berth(['user', 'passwd', 'alice', '--password-stdin', '--config', config], 'x\n')).stderr).toMatch(/at least 12 characters/);
    expect((await users()).has('carol')).toBe(false);
    expect((await berth(['user', 'add', 'carol', '--password-stdin', '--config', config], 'twelve chars\n')).code).toBe(0);
    expect((await berth(['user', 'remove', 'carol', '--config', config])).code).toBe(0);
  });

  it('says so when the config has auth off (the users file is then not used)', async () => {
    const open = join(dir.path, 'open.yaml');
    await writeFile(open, 'auth:\n  usersFile: ./open-users.htpasswd\n');
    const res = await berth(['user', 'add', 'erin', '--password-stdin', '--config', open], 'a long enough password\n');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: auth\.mode is none/);
    expect(res.stderr).toMatch(/open-users\.htpasswd/);
    expect((await berth(['user', 'add', 'erin2', '--password-stdin', '--config', config], 'a long enough password\n')).stderr).not.toMatch(/warning/);
    expect((await berth(['user', 'remove', 'erin2', '--config', config])).code).toBe(0);
  });

  it('changes a password and removes a user, keeping the file mode the admin chose', async () => {
    await chmod(usersFile, 0o640);
    expect((await berth(['user', 'passwd', 'bob', '--password-stdin', '--config', config], 'a new one for bob\n')).code).toBe(0);
    expect(await bcrypt.compare('a new one for bob', (await users()).get('bob')!)).toBe(true);
    expect((await stat(usersFile)).mode & 0o777).toBe(0o640);
    expect((await berth(['user', 'passwd', 'nobody', '--password-stdin', '--config', config], 'x\n')).code).toBe(1);
    expect((await berth(['user', 'remove', 'bob', '--config', config])).code).toBe(0);
    expect((await berth(['user', 'list', '--config', config])).stdout).toBe('alice\n');
    expect((await berth(['user', 'remove', 'bob', '--config', config])).code).toBe(1);
    expect((await readdir(dir.path)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('creates a robot token, shows its secret once, stores only a hash, lists and revokes it', async () => {
    const created = await berth(['token', 'create', '--user', 'alice', '--scope', 'repository:team/*:pull,push', '--expires', '30d', '--config', config]);
    expect(created.code).toBe(0);
    const id = /^id:\s+([a-z0-9]{16})$/m.exec(created.stdout)![1]!;
    const secret = /^secret:\s+(berth_\S+)$/m.exec(created.stdout)![1]!;
    expect(secret).toMatch(new RegExp(`^berth_${id}_[A-Za-z0-9_-]{43}$`));
    const expires = Date.parse(/^expires:\s+(\S+)$/m.exec(created.stdout)![1]!);
    expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);

    const stored = await readFile(join(dir.path, 'data/_berth/auth/tokens', `${id}.json`), 'utf8');
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(-43));
    expect(JSON.parse(stored)).toMatchObject({ id, user: 'alice', scopes: [{ type: 'repository', pattern: 'team/*', actions: ['pull', 'push'] }] });

    const listed = await berth(['token', 'list', '--config', config]);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain('repository:team/*:pull,push');
    expect(listed.stdout).not.toContain(secret);

    const json = await berth(['token', 'create', '--user', 'alice', '--scope', 'registry:catalog:*', '--expires', 'never', '--json', '--config', config]);
    const shown = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ user: 'alice', scopes: ['registry:catalog:*'], expires: null, state: 'active' });
    // list --json shows the same token the same way, without the secret.
    const inList = (JSON.parse((await berth(['token', 'list', '--json', '--config', config])).stdout) as Record<string, unknown>[]).find((r) => r.id === shown.id);
    const { secret: _secret, ...withoutSecret } = shown;
    expect(inList).toEqual(withoutSecret);

    expect((await berth(['token', 'revoke', id, '--config', config])).code).toBe(0);
    expect((await berth(['token', 'list', '--config', config])).stdout).not.toContain(id);
    expect((await berth(['token', 'revoke', id, '--config', config])).code).toBe(1);
  });

  it('warns when the rules give the token user nothing on its scope', async () => {
    const ruled = join(dir.path, 'ruled.yaml');
    await writeFile(
      ruled,
      'storage:\n  filesystem:\n    root: ./data\nauth:\n  mode: token\n  usersFile: ./users.htpasswd\n  rules:\n' +
        '    - { repository: "team-a/*", user: alice, actions: [pull] }\n    - { repository: "*", authenticated: [] }\n',
    );
    const useless = await berth(['token', 'create', '--user', 'alice', '--scope', 'repository:team-a/*:pull,push', '--config', ruled]);
    expect(useless.code).toBe(0);
    expect(useless.stderr).toContain(
      'berth: warning: auth.rules do not let alice push team-a/x (matching team-a/*): the token cannot either; add a rule such as { repository: "team-a/*", user: alice, actions: [pull, push] }',
    );
    const fine = await berth(['token', 'create', '--user', 'alice', '--scope', 'repository:team-a/*:pull', '--config', ruled]);
    expect(fine.stderr).not.toMatch(/warning/);
  });

  it('refuses bad token requests with a clear message', async () => {
    const [noScope, badScope, badExpiry, nobody, badId] = await Promise.all([
      berth(['token', 'create', '--user', 'alice', '--config', config]),
      berth(['token', 'create', '--user', 'alice', '--scope', 'repository:x:admin', '--config', config]),
      berth(['token', 'create', '--user', 'alice', '--scope', 'repository:x:pull', '--expires', 'soon', '--config', config]),
      berth(['token', 'create', '--user', 'nobody', '--scope', 'repository:x:pull', '--config', config]),
      berth(['token', 'revoke', '../../etc', '--config', config]),
    ]);
    expect(noScope.stderr).toMatch(/--scope is required/);
    expect(badScope.code).toBe(2);
    expect(badExpiry.code).toBe(2);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/no user nobody/);
    expect(badId.code).toBe(2);
  });
});
