/**
 * The project's Dockerfile, really built and run: `buildah bud` from a Node base assembled from
 * this machine's own Node (the real base cannot be pulled here), `podman run`, pushes and pulls
 * with skopeo, then compose.yaml with podman-compose (filesystem, and S3 storage on s3rver in a
 * container).
 * Slow (about 90 s of CPU on 2 cores): kept in this one file. Everything lives in a private vfs
 * storage under a temp folder, removed at the end even when a test fails.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { buildNodeBaseImage } from '../helpers/node-base-image.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BASE = 'localhost/berth-test/node:local';
const IMAGE = 'localhost/berth:ci';
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];

async function waitForHealth(url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
      last = `status ${res.status}: ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(`${url} did not answer 200 within ${ms} ms (${last})`);
}

describe('the container image', { timeout: 600_000 }, () => {
  let work: { path: string; remove: () => Promise<void> };
  let storage: string[];
  let layout: TestLayout;
  const suffix = randomBytes(3).toString('hex');
  const podman = (...args: string[]) => run('podman', [...storage, '--runtime', 'runc', ...args], { timeout: 300_000 });

  beforeAll(async () => {
    work = await tempDir('berth-image-');
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'root'), '--runroot', join(work.path, 'run')];
    layout = await makeTestLayout(work.path);
    await buildNodeBaseImage({ tag: BASE, buildahArgs: storage });
  });

  afterAll(async () => {
    if (storage) {
      await run('podman', [...storage, 'rm', '-af', '-t', '0']).catch(() => {});
      await run('podman', [...storage, 'volume', 'rm', '-af']).catch(() => {});
      await run('buildah', [...storage, 'rm', '--all']).catch(() => {});
      await run('podman', [...storage, 'system', 'reset', '-f']).catch(() => {});
    }
    await work?.remove();
  });

  it('builds from the Dockerfile with buildah, small, with a HEALTHCHECK and a non-root user', async () => {
    await run('buildah', [...storage, 'bud', '--isolation', 'chroot', '--pull=never', '--format', 'docker', '--build-arg', `NODE_IMAGE=${BASE}`, '-t', IMAGE, ROOT], {
      timeout: 480_000,
    });
    const [inspected] = JSON.parse((await podman('image', 'inspect', IMAGE)).stdout) as Array<{
      Size: number;
      Healthcheck?: { Test: string[] };
      Config: { User: string; StopSignal?: string; Volumes?: Record<string, unknown> };
    }>;
    const base = JSON.parse((await podman('image', 'inspect', BASE)).stdout)[0] as { Size: number };
    console.log(`image ${IMAGE}: ${(inspected!.Size / 1e6).toFixed(1)} MB uncompressed, of which the locally made Node base ${(base.Size / 1e6).toFixed(1)} MB; Berth's own layers ${((inspected!.Size - base.Size) / 1e6).toFixed(1)} MB`);
    expect(inspected!.Config.User).toBe('node');
    expect(inspected!.Healthcheck?.Test).toEqual(['CMD', 'node', 'dist/src/cli.js', 'healthcheck']);
    expect(inspected!.Config.StopSignal).toBe('SIGTERM');
    expect(Object.keys(inspected!.Config.Volumes ?? {})).toEqual(['/var/lib/berth']);
    // What Berth adds to its base (dist, production node_modules, config) stays small.
    expect(inspected!.Size - base.Size).toBeLessThan(60e6);
  });

  it('runs as node, answers /healthz and its HEALTHCHECK, keeps data on the volume, stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const name = `berth-ci-${suffix}`;
    const volume = `berth-ci-data-${suffix}`;
    const start = () => podman('run', '-d', '--name', name, ...ULIMITS, '-p', `127.0.0.1:${port}:5000`, '-v', `${volume}:/var/lib/berth`, '-e', 'BERTH_AUTH_MODE=none', IMAGE);
    await start();
    await waitForHealth(`http://127.0.0.1:${port}/healthz`);
    expect((await podman('exec', name, 'id', '-u')).stdout.trim()).toBe('1000');
    await podman('healthcheck', 'run', name);

    const ref = `docker://127.0.0.1:${port}/demo/app:v1`;
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, ref]);
    const digest = await layout.digestOf('test');
    const out = join(work.path, 'pulled');
    await run('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${out}:v1`]);
    expect(JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout).Digest).toBe(digest);

    const started = Date.now();
    await podman('stop', '-t', '10', name);
    const stopMs = Date.now() - started;
    const state = JSON.parse((await podman('inspect', name)).stdout)[0].State as { ExitCode: number };
    console.log(`podman stop took ${stopMs} ms, exit code ${state.ExitCode}`);
    expect(state.ExitCode).toBe(0); // 137 would mean SIGKILL after the grace period
    expect(stopMs).toBeLessThan(8000);
    await podman('rm', name);

    // A new container on the same volume still has the image.
    await start();
    await waitForHealth(`http://127.0.0.1:${port}/healthz`);
    expect(JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout).Digest).toBe(digest);
    await podman('stop', '-t', '10', name);
    await podman('rm', name);
  });

  describe('compose.yaml with podman-compose', () => {
    const compose = async (project: string, env: Record<string, string>, files: string[], ...args: string[]) =>
      run(
        'podman-compose',
        ['--podman-args', [...storage, '--runtime', 'runc'].join(' '), '-p', project, ...files.flatMap((f) => ['-f', f]), ...args],
        { timeout: 300_000, env: { ...process.env, BERTH_IMAGE: IMAGE, ...env } },
      );

    it('runs the filesystem service: push and pull through it', async () => {
      const port = await freePort();
      // This machine's sandbox needs the two ulimits; an open registry for the test's pushes.
      const override = join(work.path, 'compose.ci.yaml');
      await writeFile(override, `services:\n  berth:\n    environment:\n      BERTH_AUTH_MODE: none\n    ulimits:\n      nofile: 20000\n      nproc: 32768\n`);
      const files = [join(ROOT, 'compose.yaml'), override];
      try {
        await compose(`berth-ci-fs-${suffix}`, { REGISTRY_PORT: `127.0.0.1:${port}` }, files, 'up', '-d', '--no-build', 'berth');
        await waitForHealth(`http://127.0.0.1:${port}/readyz`);
        const ref = `docker://127.0.0.1:${port}/compose/app:v1`;
        await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, ref]);
        expect(JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout).Digest).toBe(await layout.digestOf('test'));
      } finally {
        await compose(`berth-ci-fs-${suffix}`, { REGISTRY_PORT: `127.0.0.1:${port}` }, files, 'down', '-t', '10').catch(() => {});
      }
    });

    it('runs the S3 service on an S3-compatible server', async () => {
      const port = await freePort();
      const project = `berth-ci-s3-${suffix}`;
      // compose.yaml's s3 service is MinIO, which cannot be pulled on this machine: here that same
      // service (reached as http://s3:9000, bucket berth) runs the suite's s3rver (compiled in
      // dist/ of this checkout) in the Node base image. MinIO's `server /data` arguments follow
      // the script and are ignored.
      const script = [
        "const { startS3rver } = await import('/src/dist/test/helpers/s3rver.js');",
        "await startS3rver({ address: '0.0.0.0', port: 9000, bucket: 'berth' });",
        "console.log('S3READY');",
        'setInterval(() => {}, 1 << 30);',
      ].join(' ');
      const override = join(work.path, 'compose.s3.ci.yaml');
      await writeFile(
        override,
        [
          'services:',
          '  s3:',
          `    image: ${BASE}`,
          `    entrypoint: ["node", "--input-type=module", "-e", ${JSON.stringify(script)}]`,
          '    volumes:',
          `      - ${ROOT}:/src:ro`,
          '    ulimits: { nofile: 20000, nproc: 32768 }',
          '  berth-s3:',
          '    ulimits: { nofile: 20000, nproc: 32768 }',
          '    environment:',
          '      BERTH_AUTH_MODE: none',
          '',
        ].join('\n'),
      );
      const files = [join(ROOT, 'compose.yaml'), override];
      const env = { REGISTRY_PORT_S3: `127.0.0.1:${port}`, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER' };
      try {
        await compose(project, env, files, 'up', '-d', '--no-build', '--no-deps', 's3');
        let ready = false;
        for (let i = 0; i < 240 && !ready; i++) {
          const logs = await podman('logs', `${project}_s3_1`).catch((err: Error) => ({ stdout: err.message, stderr: '' }));
          ready = `${logs.stdout}${logs.stderr}`.includes('S3READY');
          if (!ready) await new Promise((ok) => setTimeout(ok, 250));
        }
        expect(ready).toBe(true);
        await compose(project, env, files, 'up', '-d', '--no-build', '--no-deps', 'berth-s3');
        await waitForHealth(`http://127.0.0.1:${port}/readyz`);
        const ref = `docker://127.0.0.1:${port}/compose/s3:v1`;
        await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, ref]);
        expect(JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout).Digest).toBe(await layout.digestOf('test'));
        const logs = await podman('logs', `${project}_berth-s3_1`);
        expect(`${logs.stdout}${logs.stderr}`).toContain('"storage":"s3 bucket berth at http://s3:9000"');
        const catalog = await fetch(`http://127.0.0.1:${port}/v2/_catalog`).then((r) => r.json());
        expect(catalog).toEqual({ repositories: ['compose/s3'] });
      } finally {
        await compose(project, env, files, 'down', '-t', '10').catch(() => {});
      }
    });
  });
});
