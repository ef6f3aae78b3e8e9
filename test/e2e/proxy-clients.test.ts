/**
 * The pull-through cache with real clients and real upstreams: CNCF Distribution (Debian's
 * docker-registry) and a Berth with token auth. skopeo and podman pull an image and a
 * multi-platform index through the cache; the upstream is stopped and they pull again from the
 * cache; containerd's ctr pulls through a hosts.toml mirror (its `?ns=` requests); a tag moved
 * upstream is seen once its TTL has passed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, PASSWORDS, startAuthServer } from '../helpers/auth-server.js';
import { type Distribution, startDistribution } from '../helpers/distribution.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { proxyEntry, startProxyServer, type ProxyServer } from '../helpers/proxy.js';
import { tempDir } from '../helpers/tmp.js';

describe('pull-through cache with skopeo, podman and containerd', { timeout: 180_000 }, () => {
  let distribution: Distribution;
  let authUpstream: AuthServer;
  let berth: ProxyServer;
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;
  let storage: string[];
  let containerd: ChildProcess | undefined;

  const podman = (...args: string[]) => run('podman', [...storage, ...args]);
  const inspectDigest = async (reference: string): Promise<string> =>
    (JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`])).stdout) as { Digest: string }).Digest;

  beforeAll(async () => {
    work = await tempDir('berth-proxy-e2e-');
    layout = await makeTestLayout(work.path);
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage'), '--runroot', join(work.path, 'run')];
    distribution = await startDistribution();
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${distribution.host}/demo/app:1`]);
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${distribution.host}/demo/multi:1`]);
    authUpstream = await startAuthServer();
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `alice:${PASSWORDS.alice}`, `oci:${layout.dir}:test`, `docker://${authUpstream.server.host}/team-a/app:1`]);
    berth = await startProxyServer(
      [
        proxyEntry({ prefix: 'dist', url: distribution.url, tagTtl: '1h' }),
        proxyEntry({ prefix: 'private', url: authUpstream.server.url, username: 'carol', password: PASSWORDS.carol!, tagTtl: '0' }),
      ],
      (config) => {
        config.mirrors.namespaces = true;
      },
    );
  });

  afterAll(async () => {
    if (containerd && containerd.exitCode === null) {
      containerd.kill('SIGTERM');
      await once(containerd, 'exit');
    }
    await run('podman', [...storage, 'rmi', '--all', '--force']).catch(() => {});
    await berth?.cleanup();
    await authUpstream?.cleanup();
    await distribution?.remove();
    await work?.remove();
  });

  it('skopeo copies an image and a multi-platform index through the cache, digests unchanged', async () => {
    const host = berth.server.host;
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/dist/demo/app:1`, `oci:${join(work.path, 'out')}:app`]);
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${host}/dist/demo/multi:1`, `oci:${join(work.path, 'out')}:multi`]);
    const index = JSON.parse(await readFile(join(work.path, 'out/index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    const digestOf = (tag: string) => index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === tag)?.digest;
    expect(digestOf('app')).toBe(await layout.digestOf('test'));
    expect(digestOf('multi')).toBe(await layout.digestOf('multi'));
  });

  it('podman pulls an image and an index through the cache and sees the files', async () => {
    const host = berth.server.host;
    await podman('pull', '--tls-verify=false', `${host}/dist/demo/app:1`);
    await podman('pull', '--tls-verify=false', `${host}/dist/demo/multi:1`);
    const mount = (await podman('image', 'mount', `${host}/dist/demo/app:1`)).stdout.trim();
    expect(await readFile(join(mount, 'app/hello.txt'), 'utf8')).toBe(layout.files['app/hello.txt']);
    await podman('image', 'unmount', `${host}/dist/demo/app:1`);
  });

  it('pulls from the cache while the upstream is stopped', async () => {
    await distribution.stop();
    const host = berth.server.host;
    expect(await inspectDigest(`${host}/dist/demo/app:1`)).toBe(await layout.digestOf('test'));
    await podman('rmi', '--all', '--force');
    await podman('pull', '--tls-verify=false', `${host}/dist/demo/app:1`);
    await podman('pull', '--tls-verify=false', `${host}/dist/demo/multi:1`);
    // Not cached and the upstream gone: a clear error naming it.
    await expect(run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/dist/demo/never:1`])).rejects.toThrow(/502 Bad Gateway/);
  });

  it('containerd pulls through a hosts.toml mirror (?ns=) with the upstream stopped', async () => {
    const socket = join(work.path, 'containerd.sock');
    const config = join(work.path, 'containerd.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${join(work.path, 'ctr-root')}"`,
        `state = "${join(work.path, 'ctr-state')}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${socket}"`,
        '[ttrpc]',
        `  address = "${socket}.ttrpc"`,
      ].join('\n'),
    );
    containerd = spawn('containerd', ['--config', config], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    // The upstream's own address is the namespace; its server entry is a dead port: only the mirror can serve.
    const hosts = join(work.path, 'hosts', distribution.host);
    await mkdir(hosts, { recursive: true });
    await writeFile(
      join(hosts, 'hosts.toml'),
      ['server = "http://127.0.0.1:1"', '', `[host."http://${berth.server.host}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
    await run('ctr', ['--address', socket, 'images', 'pull', '--hosts-dir', join(work.path, 'hosts'), `${distribution.host}/demo/app:1`]);
    await run('ctr', ['--address', socket, 'images', 'pull', '--hosts-dir', join(work.path, 'hosts'), '--all-platforms', `${distribution.host}/demo/multi:1`]);
    const check = await run('ctr', ['--address', socket, 'images', 'check']);
    expect(check.stdout).toMatch(new RegExp(`${distribution.host}/demo/multi:1.*complete`));
    // containerd asked Berth with ?ns=<upstream host>; Berth answered from the dist/ cache.
    const asked = berth.server.logs.filter((l) => l.msg === 'request' && typeof l.path === 'string' && (l.path as string).startsWith('/v2/dist/demo/app/'));
    expect(asked.length).toBeGreaterThan(0);
  });

  it('pulls from an upstream with token auth, and sees a tag moved there once its TTL has passed', async () => {
    const host = berth.server.host;
    expect(await inspectDigest(`${host}/private/team-a/app:1`)).toBe(await layout.digestOf('test'));
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `alice:${PASSWORDS.alice}`, `oci:${layout.dir}:test-arm64`, `docker://${authUpstream.server.host}/team-a/app:1`]);
    expect(await inspectDigest(`${host}/private/team-a/app:1`)).toBe(await layout.digestOf('test-arm64'));
  });
});
