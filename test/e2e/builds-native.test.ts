/**
 * The native builder end to end, with real clients (skopeo, podman) reading what it pushed into a
 * running Berth: config fields, layer contents, an image FROM a umoci-made base pushed with skopeo
 * plus multi-stage COPY --from, a container run with podman, and a 200 MiB context built in its
 * own process with its peak memory measured.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeBuilder } from '../../src/builds/native/builder.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { buildRequest, copyFixture, FIXTURES, tarEntries, type TarEntry } from '../helpers/native-build.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');

interface InspectConfig {
  architecture: string;
  os: string;
  config: { Cmd?: string[]; Entrypoint?: string[]; Env?: string[]; Labels?: Record<string, string>; WorkingDir?: string; ExposedPorts?: Record<string, object>; User?: string };
  rootfs: { diff_ids: string[] };
}

interface Manifest {
  config: { digest: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

/**
 * Compiles the builder's module graph (types not checked: `tsc -p` does that) into a folder of its
 * own under node_modules (so its imports resolve), for a child process to run. Independent of
 * dist/, which may be stale when this file runs alone.
 */
async function compileBuilder(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = join(ROOT, 'node_modules/.cache', `berth-native-test-${process.pid}`);
  const entries = ['src/builds/native/builder.ts', 'src/log.ts', 'storage-drivers/filesystem.ts'].map((path) => join(ROOT, path));
  const options = ['--noCheck', '--skipLibCheck', '--outDir', dir, '--rootDir', ROOT, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
  await run(join(ROOT, 'node_modules/.bin/tsc'), [...options, ...entries], { timeout: 300_000 });
  // Node stops looking for the package scope at node_modules: say it is ESM here.
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

describe('native builder with real clients', { timeout: 300_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let work: { path: string; remove: () => Promise<void> };
  let builder: NativeBuilder;
  let storage: string[];
  let host: string;
  /** The umoci-made images (test, test-arm64, multi), once the umoci test made them. */
  let layout: TestLayout;
  /** The server's filesystem storage, which the measured child process writes to as well. */
  let storageRoot: string;

  const skopeo = (...args: string[]) => run('skopeo', args);
  const inspectConfig = async (ref: string) => JSON.parse((await skopeo('inspect', '--config', '--tls-verify=false', `docker://${host}/${ref}`)).stdout) as InspectConfig;
  const inspectRaw = async (ref: string) => JSON.parse((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/${ref}`)).stdout) as Manifest;

  /** Copies the image out with skopeo and returns every layer's entries (later layers win). */
  async function pulledFiles(ref: string): Promise<Map<string, TarEntry>> {
    const out = join(work.path, `out-${ref.replace(/[/:]/g, '-')}-${Date.now()}`);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host}/${ref}`, `oci:${out}:image`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await readFile(join(out, 'blobs', ...index.manifests[0]!.digest.split(':')), 'utf8')) as Manifest;
    const files = new Map<string, TarEntry>();
    for (const layer of manifest.layers) {
      for (const entry of await tarEntries(await readFile(join(out, 'blobs', ...layer.digest.split(':'))))) files.set(entry.name.replace(/\/$/, ''), entry);
    }
    return files;
  }

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    storageRoot = made.config.storage.filesystem.root;
    server = await startTestServer(made.config);
    host = server.host;
    work = await tempDir('berth-native-e2e-');
    builder = new NativeBuilder({ registry: server.app.registry, tempDir: work.path });
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage'), '--runroot', join(work.path, 'run')];
  });

  afterAll(async () => {
    await run('podman', [...storage, 'rmi', '--all', '--force']).catch(() => {});
    await server?.close();
    await cleanup?.();
    await work?.remove();
  });

  it('builds FROM scratch: skopeo sees the config and the files', async () => {
    const context = await copyFixture('scratch-app', join(work.path, 'scratch-app'));
    const result = await builder.build(buildRequest(context, { repository: 'demo/native', tags: ['1.0', 'latest'], buildArgs: { SOURCE_BRANCH: 'main' } }));
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/demo/native:1.0`)).stdout) as { Digest: string; RepoTags: string[] };
    expect(inspect.Digest).toBe(result.digest);
    expect(inspect.RepoTags.sort()).toEqual(['1.0', 'latest']);

    const config = await inspectConfig('demo/native:latest');
    expect(config.architecture).toBe('amd64');
    expect(config.os).toBe('linux');
    expect(config.config.Cmd).toEqual(['serve', '--port', '8080']);
    expect(config.config.Entrypoint).toEqual(['/usr/local/bin/run']);
    expect(config.config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/app', 'APP_VERSION=1.0']);
    expect(config.config.Labels).toEqual({ 'org.opencontainers.image.version': '1.0', branch: 'main', description: 'a "quoted" label' });
    expect(config.config.WorkingDir).toBe('/app');
    expect(config.config.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(config.config.User).toBe('1000:1000');

    const files = await pulledFiles('demo/native:latest');
    expect(files.get('app/hello.txt')?.content).toBe('hello from berth\n');
    expect(files.get('app/src/nested/b.txt')?.content).toBe('b\n');
    expect(files.get('usr/local/bin/run')).toMatchObject({ mode: 0o755 });
    expect(files.has('notes.tmp') || files.has('app/src/debug.tmp')).toBe(false);
  });

  it('gives the same digest when the same source is built twice', async () => {
    const first = await builder.build(buildRequest(await copyFixture('scratch-app', join(work.path, 'repro-1')), { repository: 'demo/repro', tags: ['a'] }));
    const second = await builder.build(buildRequest(await copyFixture('scratch-app', join(work.path, 'repro-2')), { repository: 'demo/repro', tags: ['b'] }));
    console.log(`same source built twice, in two folders: ${first.digest} and ${second.digest}`);
    expect(second.digest).toBe(first.digest);
    const a = await inspectRaw('demo/repro:a');
    const b = await inspectRaw('demo/repro:b');
    expect(b).toEqual(a);
  });

  it('builds FROM a umoci image pushed with skopeo, with multi-stage COPY --from', async () => {
    layout = await makeTestLayout(join(work.path, 'umoci'));
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/base/app:v1`);
    const base = await inspectRaw('base/app:v1');

    const context = join(work.path, 'derived');
    await mkdir(join(context, 'assets'), { recursive: true });
    await writeFile(join(context, 'assets/style.css'), 'body { color: teal }\n');
    await writeFile(join(context, 'extra.txt'), 'extra\n');
    await writeFile(
      join(context, 'Dockerfile'),
      [
        `FROM ${host}/base/app:v1 AS base`,
        'FROM scratch AS assets',
        'COPY assets/ /assets/',
        'FROM base',
        'COPY --from=assets /assets/ /app/assets/',
        'COPY --from=base /app/hello.txt /app/hello-copy.txt',
        'COPY extra.txt ./',
        'ENV MODE=native',
      ].join('\n'),
    );
    const result = await builder.build(buildRequest(context, { repository: 'demo/derived', tags: ['1'] }));
    const manifest = await inspectRaw('demo/derived:1');
    // The base's layers are reused as they are, and readable from the new repository.
    expect(manifest.layers.slice(0, base.layers.length)).toEqual(base.layers);
    expect(manifest.layers).toHaveLength(base.layers.length + 3);

    const config = await inspectConfig('demo/derived:1');
    expect(config.config.Env).toEqual(expect.arrayContaining(['GREETING=hi', 'MODE=native']));
    expect(config.config.WorkingDir).toBe('/app');
    expect(config.config.Cmd).toEqual(['/app/run.sh']);

    const files = await pulledFiles('demo/derived:1');
    expect(files.get('app/assets/style.css')?.content).toBe('body { color: teal }\n');
    expect(files.get('app/hello-copy.txt')?.content).toBe(layout.files['app/hello.txt']);
    expect(files.get('app/extra.txt')?.content).toBe('extra\n');
    expect(files.get('app/extra/notes.txt')?.type).toBe('file');

    // podman pulls it (and checks every layer against its diff_id on the way).
    await run('podman', [...storage, 'pull', '--tls-verify=false', `${host}/demo/derived:1`]);
    const images = JSON.parse((await run('podman', [...storage, 'image', 'inspect', `${host}/demo/derived:1`])).stdout) as { Digest: string }[];
    expect(images[0]!.Digest).toBe(result.digest);
  });

  it('picks the platform from a multi-platform base, and takes a base by digest', async () => {
    await skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${host}/base/multi:1`);
    const context = join(work.path, 'platforms');
    await mkdir(context, { recursive: true });
    const build = async (dockerfile: string, tag: string) => {
      await writeFile(join(context, 'Dockerfile'), dockerfile);
      await builder.build(buildRequest(context, { repository: 'demo/platforms', tags: [tag] }));
      return inspectConfig(`demo/platforms:${tag}`);
    };
    expect((await build(`FROM ${host}/base/multi:1\nLABEL picked=default\n`, 'default')).architecture).toBe('amd64');
    expect((await build('FROM --platform=linux/arm64 base/multi:1\nLABEL picked=arm64\n', 'arm64')).architecture).toBe('arm64');
    const digest = await layout.digestOf('test');
    const byDigest = await build(`FROM base/app@${digest}\nENV PINNED=1\n`, 'pinned');
    expect(byDigest.config.Env).toEqual(expect.arrayContaining(['GREETING=hi', 'PINNED=1']));
    expect((await inspectRaw('demo/platforms:pinned')).layers).toEqual((await inspectRaw('base/app:v1')).layers);
  });

  it('builds an image podman runs', async () => {
    const context = join(work.path, 'runnable');
    await mkdir(join(context, 'bin'), { recursive: true });
    await copyFile('/bin/busybox', join(context, 'bin/busybox'));
    await writeFile(join(context, 'message.txt'), 'built without an engine\n');
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY bin/ /bin/\nWORKDIR /srv\nCOPY message.txt .\nENV WHO=berth\nENTRYPOINT ["/bin/busybox"]\nCMD ["cat", "message.txt"]\n');
    await builder.build(buildRequest(context, { repository: 'demo/runnable' }));
    const runArgs = [...storage, '--runtime', 'runc', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768', '--tls-verify=false'];
    const image = `${host}/demo/runnable:latest`;
    expect((await run('podman', [...runArgs, image])).stdout).toBe('built without an engine\n');
    expect((await run('podman', [...runArgs, image, 'sh', '-c', 'echo "$WHO in $(pwd)"'])).stdout).toBe('berth in /srv\n');
  });

  it('builds a 200 MiB context with bounded memory', async () => {
    const compiled = await compileBuilder();
    const context = join(work.path, 'big');
    await mkdir(join(context, 'data'), { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY data/ /data/\nCMD ["/data/file-0"]\n');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 50; i++) {
      const handle = await open(join(context, 'data', `file-${i}`), 'w');
      for (let mib = 0; mib < 4; mib++) await handle.write(randomFillSync(chunk));
      await handle.close();
    }
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(FIXTURES, 'rss/child.mjs'), compiled.dir, storageRoot, context, work.path, 'demo/big'],
      { timeout: 240_000, maxBuffer: 1024 * 1024 },
    ).finally(() => compiled.remove());
    const measured = JSON.parse(stdout.trim().split('\n').at(-1)!) as { digest: string; maxRss: number; sampledPeak: number; seconds: number };
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    console.log(`200 MiB context: peak RSS ${mib(measured.maxRss)} MiB (sampled ${mib(measured.sampledPeak)} MiB), ${measured.seconds.toFixed(1)} s`);
    expect(measured.maxRss).toBeLessThan(250 * 1024 * 1024);

    const manifest = await inspectRaw('demo/big:latest');
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]!.size).toBeGreaterThan(200 * 1024 * 1024);
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/demo/big:latest`)).stdout) as { Digest: string };
    expect(inspect.Digest).toBe(measured.digest);
  });
});
