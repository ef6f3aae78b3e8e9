/**
 * containerd (`ctr`, from apt) against Berth: pull an image and a multi-platform index pushed
 * by skopeo, push one back under a new name. containerd runs with its own root, state and socket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

describe('containerd against Berth', { timeout: 120_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;
  let containerd: ChildProcess;
  let socket: string;

  const ctr = (...args: string[]) => run('ctr', ['--address', socket, ...args]);

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    work = await tempDir('berth-ctr-');
    layout = await makeTestLayout(work.path);
    socket = join(work.path, 'containerd.sock');
    const config = join(work.path, 'containerd.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${join(work.path, 'root')}"`,
        `state = "${join(work.path, 'state')}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${socket}"`,
        '[ttrpc]',
        `  address = "${socket}.ttrpc"`,
      ].join('\n'),
    );
    containerd = spawn('containerd', ['--config', config], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${server.host}/ctr/app:1`]);
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${server.host}/ctr/multi:1`]);
  });

  afterAll(async () => {
    if (containerd && containerd.exitCode === null) {
      containerd.kill('SIGTERM');
      await once(containerd, 'exit');
    }
    await server?.close();
    await cleanup?.();
    await work?.remove();
  });

  it('pulls an image and a multi-platform index', async () => {
    await ctr('images', 'pull', '--plain-http', `${server.host}/ctr/app:1`);
    await ctr('images', 'pull', '--plain-http', '--all-platforms', `${server.host}/ctr/multi:1`);
    const { stdout } = await ctr('images', 'list', '--quiet');
    expect(stdout.split('\n')).toEqual(expect.arrayContaining([`${server.host}/ctr/app:1`, `${server.host}/ctr/multi:1`]));
    const check = await ctr('images', 'check');
    expect(check.stdout).toMatch(new RegExp(`${server.host}/ctr/multi:1.*complete`));
  });

  it('pushes an image back under a new name', async () => {
    await ctr('images', 'tag', `${server.host}/ctr/app:1`, `${server.host}/ctr/pushed:2`);
    await ctr('images', 'push', '--plain-http', `${server.host}/ctr/pushed:2`);
    const manifest = await fetch(`${server.url}/v2/ctr/pushed/manifests/2`, { method: 'HEAD' });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(await layout.digestOf('test'));
  });
});
