/**
 * A private team registry with real clients: `skopeo login`/`podman login` (and `docker login`,
 * whose stored refresh token then drives POST /token), a member pushes, anonymous pulls from a
 * public repository, a pull-only user is refused a push, CI pushes with a robot token made by
 * `berth token create`, and the revoked token is refused. Credentials live in temp files only
 * (--authfile, DOCKER_CONFIG), never in the machine's auth.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logText, PASSWORDS, startAuthServer, type AuthServer } from '../helpers/auth-server.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');

/** The docker CLI comes with some machines (not from apt); without it that test is skipped. */
function hasDocker(): boolean {
  try {
    execFileSync('docker', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('private team registry with real clients', { timeout: 180_000 }, () => {
  let s: AuthServer;
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;
  /** `localhost:PORT`: a name no earlier run's blob-info cache knows. */
  let host: string;
  let storage: string[];
  let configFile: string;
  const authfile = (who: string) => join(work.path, `auth-${who}.json`);
  const secrets: string[] = Object.values(PASSWORDS);

  const skopeo = (...args: string[]) => run('skopeo', args);
  const podman = (...args: string[]) => run('podman', [...storage, ...args]);
  const berth = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', configFile]);

  beforeAll(async () => {
    s = await startAuthServer();
    host = `localhost:${s.server.port}`;
    work = await tempDir('berth-e2e-auth-');
    layout = await makeTestLayout(work.path);
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage'), '--runroot', join(work.path, 'run')];
    await writeFile(authfile('anonymous'), '{}');
    // The same storage and users file as the running server, for `berth token ...`.
    configFile = join(work.path, 'berth.yaml');
    await writeFile(configFile, `storage:\n  filesystem:\n    root: ${s.root}\nauth:\n  mode: token\n  usersFile: ${s.usersFile}\n`);
  });

  afterAll(async () => {
    await podman('rmi', '--all', '--force').catch(() => {});
    try {
      const logs = logText(s.server);
      for (const secret of secrets) expect(logs.includes(secret), 'a secret in the server logs').toBe(false);
    } finally {
      await s?.cleanup();
      await work?.remove();
    }
  });

  it('skopeo login: a member signs in, a wrong password is refused', async () => {
    const ok = await skopeo('login', '--authfile', authfile('alice'), '--tls-verify=false', '-u', 'alice', '-p', PASSWORDS.alice!, host);
    expect(ok.stdout).toMatch(/Login Succeeded/);
    await expect(skopeo('login', '--authfile', authfile('wrong'), '--tls-verify=false', '-u', 'alice', '-p', 'wrong-password', host)).rejects.toThrow(
      /invalid username\/password|unauthorized/i,
    );
    expect(existsSync(authfile('wrong'))).toBe(false);
  });

  it('a member pushes to a team repository and a public one', async () => {
    for (const repo of ['team-a/app:v1', 'public/app:v1']) {
      await skopeo('copy', '--authfile', authfile('alice'), '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/${repo}`);
    }
    const inspect = JSON.parse((await skopeo('inspect', '--authfile', authfile('alice'), '--tls-verify=false', `docker://${host}/team-a/app:v1`)).stdout) as { Digest: string };
    expect(inspect.Digest).toBe(await layout.digestOf('test'));
  });

  it('anonymous callers pull the public repository, and not the team one', async () => {
    const out = join(work.path, 'anon-out');
    await skopeo('copy', '--src-no-creds', '--src-tls-verify=false', `docker://${host}/public/app:v1`, `oci:${out}:v1`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(await layout.digestOf('test'));
    await podman('pull', '--authfile', authfile('anonymous'), '--tls-verify=false', `${host}/public/app:v1`);
    await expect(skopeo('inspect', '--no-creds', '--tls-verify=false', `docker://${host}/team-a/app:v1`)).rejects.toThrow(/unauthorized|authentication required/i);
  });

  it('podman login as a pull-only user: pulls, and is refused a push', async () => {
    const login = await podman('login', '--authfile', authfile('carol'), '--tls-verify=false', '-u', 'carol', '-p', PASSWORDS.carol!, host);
    expect(login.stdout).toMatch(/Login Succeeded/);
    await podman('pull', '--authfile', authfile('carol'), '--tls-verify=false', `${host}/team-a/app:v1`);
    await podman('tag', `${host}/team-a/app:v1`, `${host}/team-a/app:carol`);
    await expect(podman('push', '--authfile', authfile('carol'), '--tls-verify=false', `${host}/team-a/app:carol`)).rejects.toThrow(
      /denied|requested access to the resource is denied/i,
    );
    const tags = JSON.parse((await skopeo('list-tags', '--authfile', authfile('alice'), '--tls-verify=false', `docker://${host}/team-a/app`)).stdout) as { Tags: string[] };
    expect(tags.Tags).toEqual(['v1']);
  });

  it('CI pushes with a robot token; once revoked, the token is refused', async () => {
    const created = await berth('token', 'create', '--user', 'ci', '--scope', 'repository:team-a/*:pull,push', '--expires', '1d');
    const id = /^id:\s+(\S+)$/m.exec(created.stdout)![1]!;
    const secret = /^secret:\s+(\S+)$/m.exec(created.stdout)![1]!;
    secrets.push(secret);
    await skopeo('login', '--authfile', authfile('ci'), '--tls-verify=false', '-u', 'ci', '-p', secret, host);
    await skopeo('copy', '--authfile', authfile('ci'), '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/team-a/ci:1`);
    // the token's scope (team-a/*) and ci's rights both stop it at public/*
    await expect(
      skopeo('copy', '--authfile', authfile('ci'), '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/public/ci:1`),
    ).rejects.toThrow(/denied|403 \(Forbidden\)/i);
    expect((await berth('token', 'list')).stdout).toContain(id);

    await berth('token', 'revoke', id);
    await expect(skopeo('login', '--authfile', authfile('ci-again'), '--tls-verify=false', '-u', 'ci', '-p', secret, host)).rejects.toThrow(
      /invalid username\/password|unauthorized/i,
    );
    await expect(
      skopeo('copy', '--authfile', authfile('ci'), '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/team-a/ci:2`),
    ).rejects.toThrow(/unauthorized|invalid username\/password/i);
  });

  it.skipIf(!hasDocker())('docker login stores a refresh token (not the password) and docker uses it', async () => {
    const dockerConfig = join(work.path, 'docker');
    const env = { ...process.env, DOCKER_CONFIG: dockerConfig };
    const login = await run('sh', ['-c', `printf %s "$PW" | docker login --username alice --password-stdin ${host}`], { env: { ...env, PW: PASSWORDS.alice! } });
    expect(login.stdout).toMatch(/Login Succeeded/);
    const stored = await readFile(join(dockerConfig, 'config.json'), 'utf8');
    expect(stored).not.toContain(PASSWORDS.alice!);
    expect(stored).not.toContain(Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64'));
    expect(stored).toContain('identitytoken');
    const manifest = JSON.parse((await run('docker', ['manifest', 'inspect', '--insecure', `${host}/team-a/app:v1`], { env })).stdout) as { layers: unknown[] };
    expect(manifest.layers).toHaveLength(2);
    expect(s.server.logs.some((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/token' && l.status === 200)).toBe(true);
  });
});
