/**
 * End to end with real clients (skopeo, podman, buildah; installed by .ci/run from apt): push
 * single-platform images and a multi-platform index, gzip and zstd, pull them back and compare
 * bytes, list tags, delete.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

interface Manifest {
  mediaType?: string;
  config: { digest: string; mediaType: string };
  layers: { digest: string; mediaType: string }[];
  manifests?: { digest: string; platform?: { architecture: string } }[];
}

describe('real clients against Berth', { timeout: 180_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;
  /** Registry host as clients name it; `localhost:PORT` gives a clean blob-info cache view. */
  let host: string;
  let freshHost: string;
  let storage: string[];

  const skopeo = (...args: string[]) => run('skopeo', args);
  const inspectRaw = async (ref: string) => JSON.parse((await skopeo('inspect', '--raw', '--tls-verify=false', ref)).stdout) as Manifest;

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    host = server.host;
    freshHost = `localhost:${server.port}`;
    work = await tempDir('berth-e2e-');
    layout = await makeTestLayout(work.path);
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage'), '--runroot', join(work.path, 'run')];
  });

  afterAll(async () => {
    await run('podman', [...storage, 'rmi', '--all', '--force']).catch(() => {});
    await server?.close();
    await cleanup?.();
    await work?.remove();
  });

  /** Copies `ref` out to a new OCI layout and checks every blob against the source layout. */
  async function pullAndCompare(ref: string, tag: string, all = false): Promise<void> {
    const out = join(work.path, `out-${tag}-${Date.now()}`);
    await skopeo('copy', ...(all ? ['--all'] : []), '--src-tls-verify=false', ref, `oci:${out}:${tag}`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const top = index.manifests[0]!.digest;
    const pending = [top];
    let compared = 0;
    while (pending.length > 0) {
      const digest = pending.pop()!;
      const got = await readFile(join(out, 'blobs', ...digest.split(':')));
      expect(got.equals(await layout.blob(digest)), `blob ${digest}`).toBe(true);
      compared += 1;
      const parsed = JSON.parse(got.toString()) as Partial<Manifest>;
      if (parsed.manifests) pending.push(...parsed.manifests.map((m) => m.digest));
      if (parsed.config) {
        for (const blob of [parsed.config, ...(parsed.layers ?? [])]) {
          const data = await readFile(join(out, 'blobs', ...blob.digest.split(':')));
          expect(data.equals(await layout.blob(blob.digest)), `blob ${blob.digest}`).toBe(true);
          compared += 1;
        }
      }
    }
    expect(compared).toBeGreaterThanOrEqual(all ? 9 : 4);
  }

  it('skopeo pushes an OCI image and pulls it back byte for byte', async () => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/demo/app:v1`);
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/demo/app:v1`)).stdout) as {
      Digest: string;
      Env: string[];
      Layers: string[];
    };
    expect(inspect.Digest).toBe(await layout.digestOf('test'));
    expect(inspect.Env).toContain('GREETING=hi');
    expect(inspect.Layers).toHaveLength(2);
    const config = JSON.parse((await skopeo('inspect', '--config', '--tls-verify=false', `docker://${host}/demo/app:v1`)).stdout) as {
      config: { Cmd: string[]; WorkingDir: string };
    };
    expect(config.config).toMatchObject({ Cmd: ['/app/run.sh'], WorkingDir: '/app' });
    await pullAndCompare(`docker://${host}/demo/app:v1`, 'v1');
  });

  it('skopeo pushes a Docker schema2 image', async () => {
    await skopeo('copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/demo/app:docker`);
    const manifest = await inspectRaw(`docker://${host}/demo/app:docker`);
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
  });

  it('skopeo pushes a multi-platform index and pulls every platform back', async () => {
    await skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${host}/demo/multi:1`);
    const index = await inspectRaw(`docker://${host}/demo/multi:1`);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests!.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);
    const { stdout } = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/demo/multi:1`);
    expect(Buffer.from(stdout).equals(await layout.blob(await layout.digestOf('multi')))).toBe(true);
    await pullAndCompare(`docker://${host}/demo/multi:1`, 'multi', true);
    const arm = JSON.parse(
      (await skopeo('inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${host}/demo/multi:1`)).stdout,
    ) as { Architecture: string };
    expect(arm.Architecture).toBe('arm64');
  });

  it('skopeo pushes zstd layers, and podman pulls them and sees the files', async () => {
    await skopeo('copy', '--dest-compress-format', 'zstd', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${freshHost}/demo/zstd:1`);
    const manifest = await inspectRaw(`docker://${freshHost}/demo/zstd:1`);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(Array(2).fill('application/vnd.oci.image.layer.v1.tar+zstd'));
    await run('podman', [...storage, 'pull', '--tls-verify=false', `${freshHost}/demo/zstd:1`]);
    const mount = (await run('podman', [...storage, 'image', 'mount', `${freshHost}/demo/zstd:1`])).stdout.trim();
    expect(await readFile(join(mount, 'app/hello.txt'), 'utf8')).toBe(layout.files['app/hello.txt']);
    expect((await readFile(join(mount, 'app/extra/notes.txt'), 'utf8')).startsWith('extra layer')).toBe(true);
    await run('podman', [...storage, 'image', 'unmount', `${freshHost}/demo/zstd:1`]);
  });

  it('podman pulls, pushes to another repository (gzip and zstd), and pulls that back', async () => {
    await run('podman', [...storage, 'pull', '--tls-verify=false', `${host}/demo/app:v1`]);
    await run('podman', [...storage, 'tag', `${host}/demo/app:v1`, `${host}/demo/podman:gzip`, `${freshHost}/demo/podman:zstd`]);
    await run('podman', [...storage, 'push', '--tls-verify=false', `${host}/demo/podman:gzip`]);
    await run('podman', [...storage, 'push', '--tls-verify=false', '--compression-format', 'zstd', `${freshHost}/demo/podman:zstd`]);
    const zstd = await inspectRaw(`docker://${freshHost}/demo/podman:zstd`);
    expect(zstd.layers.every((l) => l.mediaType.endsWith('+zstd'))).toBe(true);

    const second = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage2'), '--runroot', join(work.path, 'run2')];
    try {
      for (const tag of ['gzip', 'zstd']) {
        await run('podman', [...second, 'pull', '--tls-verify=false', `${host}/demo/podman:${tag}`]);
        const mount = (await run('podman', [...second, 'image', 'mount', `${host}/demo/podman:${tag}`])).stdout.trim();
        expect(await readFile(join(mount, 'app/hello.txt'), 'utf8')).toBe(layout.files['app/hello.txt']);
        await run('podman', [...second, 'image', 'unmount', `${host}/demo/podman:${tag}`]);
      }
    } finally {
      await run('podman', [...second, 'rmi', '--all', '--force']).catch(() => {});
    }
  });

  it('buildah pushes an image and a manifest list', async () => {
    await run('buildah', [...storage, 'push', '--tls-verify=false', `${host}/demo/app:v1`, `docker://${host}/demo/buildah:1`]);
    const pushed = await inspectRaw(`docker://${host}/demo/buildah:1`);
    expect(pushed.layers).toHaveLength(2);
    await run('buildah', [...storage, 'manifest', 'create', 'berth-e2e-list']);
    await run('buildah', [...storage, 'manifest', 'add', '--tls-verify=false', 'berth-e2e-list', `docker://${host}/demo/buildah:1`]);
    await run('buildah', [...storage, 'manifest', 'push', '--all', '--tls-verify=false', 'berth-e2e-list', `docker://${host}/demo/buildah:list`]);
    const list = await inspectRaw(`docker://${host}/demo/buildah:list`);
    expect(list.manifests).toHaveLength(1);
    await run('buildah', [...storage, 'manifest', 'rm', 'berth-e2e-list']).catch(() => {});
  });

  it('skopeo lists tags and deletes', async () => {
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/demo/app`)).stdout) as { Tags: string[] };
    expect(tags.Tags).toEqual(['docker', 'v1']);
    await skopeo('delete', '--tls-verify=false', `docker://${host}/demo/app:docker`);
    await expect(skopeo('inspect', '--tls-verify=false', `docker://${host}/demo/app:docker`)).rejects.toThrow(/manifest unknown|not found/i);
    const after = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/demo/app`)).stdout) as { Tags: string[] };
    expect(after.Tags).toEqual(['v1']);
    const catalog = (await fetch(`${server.url}/v2/_catalog`).then((r) => r.json())) as { repositories: string[] };
    expect(catalog.repositories).toEqual(['demo/app', 'demo/buildah', 'demo/multi', 'demo/podman', 'demo/zstd']);
  });
});
