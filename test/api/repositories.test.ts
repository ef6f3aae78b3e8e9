/**
 * What is stored, for people: /api/repositories, /api/repositories/NAME/tags and /api/usage on a
 * real server, and `berth repos|tags|rm|du` both on the storage (--config) and against the server
 * (--url), with the sizes worked out from the bytes pushed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, startAuthServer } from '../helpers/auth-server.js';
import { Client, errorCode, imageManifest, sha256 } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const INDEX = 'application/vnd.oci.image.index.v1+json';

async function berth(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

interface Pushed {
  digest: string;
  /** Bytes a pull fetches: manifest, config, layers. */
  size: number;
  layer: string;
  layerSize: number;
}

describe('repositories, tags and usage', { timeout: 60_000 }, () => {
  let server: TestServer;
  let client: Client;
  let cleanup: () => Promise<void>;
  let configFile: string;
  const shared = Buffer.alloc(3000, 's');
  const images: Record<string, Pushed> = {};
  let indexDigest = '';
  let indexSize = 0;

  async function pushImage(name: string, tag: string, arch: string, own: Buffer): Promise<Pushed> {
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: arch, rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { repository: name } } }));
    const configDigest = await client.pushBlob(name, config);
    const sharedDigest = await client.pushBlob(name, shared);
    const layer = await client.pushBlob(name, own);
    const manifest = imageManifest([configDigest, config.length], [[sharedDigest, shared.length], [layer, own.length]]);
    const digest = await client.pushManifest(name, tag, manifest);
    const manifestSize = Buffer.byteLength(JSON.stringify(manifest));
    return { digest, size: manifestSize + config.length + shared.length + own.length, layer, layerSize: own.length };
  }

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    client = new Client(server.url);
    configFile = join(made.config.storage.filesystem.root, 'berth.yaml');
    await writeFile(configFile, `storage:\n  filesystem:\n    root: ${made.config.storage.filesystem.root}\n`);

    images.amd = await pushImage('team/app', 'amd64', 'amd64', Buffer.alloc(1000, 'a'));
    images.arm = await pushImage('team/app', 'arm64', 'arm64', Buffer.alloc(2000, 'b'));
    const index = {
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: images.amd.digest, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: images.arm.digest, size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    for (const m of index.manifests) m.size = (await client.get(`/v2/team/app/manifests/${m.digest}`)).body.length;
    indexDigest = await client.pushManifest('team/app', 'multi', index);
    indexSize = Buffer.byteLength(JSON.stringify(index));
    images.tool = await pushImage('tools/lint', 'v1', 'amd64', Buffer.alloc(500, 'c'));
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  // Bytes referenced by team/app: both images (sharing one layer) and the index.
  const appBytes = () => images.amd!.size + images.arm!.size - shared.length + indexSize;

  it('lists repositories with their tag count, size (shared layers once) and last push', async () => {
    const res = await client.get('/api/repositories');
    expect(res.status).toBe(200);
    const [app, lint] = res.json.repositories as { name: string; tags: number; size: number; lastPush: string }[];
    expect(app).toMatchObject({ name: 'team/app', tags: 3, size: appBytes() });
    expect(lint).toMatchObject({ name: 'tools/lint', tags: 1, size: images.tool!.size });
    expect(Date.now() - Date.parse(app!.lastPush)).toBeLessThan(600_000);

    const page = await client.get('/api/repositories?n=1');
    expect(page.json.repositories.map((r: { name: string }) => r.name)).toEqual(['team/app']);
    expect(page.json.next).toBe('team/app');
    expect(page.headers.get('link')).toBe('</api/repositories?n=1&last=team%2Fapp>; rel="next"');
    const searched = await client.get('/api/repositories?q=lint');
    expect(searched.json.repositories.map((r: { name: string }) => r.name)).toEqual(['tools/lint']);
    // The next page of a search is of the same search.
    const searchPage = await client.get('/api/repositories?q=t&n=1');
    expect(searchPage.headers.get('link')).toBe('</api/repositories?q=t&n=1&last=team%2Fapp>; rel="next"');
  });

  it("shows a repository's tags with digest, pull size and platforms", async () => {
    const res = await client.get('/api/repositories/team/app/tags');
    expect(res.status).toBe(200);
    const byTag = Object.fromEntries((res.json.tags as { tag: string }[]).map((t) => [t.tag, t]));
    expect(byTag.amd64).toMatchObject({ digest: images.amd!.digest, size: images.amd!.size, platforms: ['linux/amd64'] });
    expect(byTag.multi).toMatchObject({ digest: indexDigest, mediaType: INDEX, size: appBytes(), platforms: ['linux/amd64', 'linux/arm64/v8'] });
    expect((await client.get('/api/repositories/no/such/tags')).status).toBe(404);
    expect(errorCode(await client.get('/api/repositories/No/tags'))).toBe('NAME_INVALID');
  });

  it('reports storage per repository and in all, shared blobs once', async () => {
    const usage = (await client.get('/api/usage')).json as { repositories: { name: string; size: number; exclusive: number }[]; referenced: number };
    const app = usage.repositories.find((r) => r.name === 'team/app')!;
    const lint = usage.repositories.find((r) => r.name === 'tools/lint')!;
    // The shared layer is in both repositories: neither holds it alone.
    expect(app).toEqual({ name: 'team/app', size: appBytes(), exclusive: appBytes() - shared.length });
    expect(lint.exclusive).toBe(images.tool!.size - shared.length);
    expect(usage.referenced).toBe(appBytes() + images.tool!.size - shared.length);
  });

  it('berth repos, tags and du read the storage and the server alike', async () => {
    for (const where of [['--config', configFile], ['--url', server.url]]) {
      const repos = await berth(['repos', ...where]);
      expect(repos.code, repos.stderr).toBe(0);
      expect(repos.stdout).toMatch(/^REPOSITORY\s+TAGS\s+SIZE\s+LAST PUSH\nteam\/app\s+3\s+/);
      const json = JSON.parse((await berth(['repos', '--json', ...where])).stdout) as { name: string; size: number }[];
      expect(json.map((r) => [r.name, r.size])).toEqual([
        ['team/app', appBytes()],
        ['tools/lint', images.tool!.size],
      ]);
      const tags = await berth(['tags', 'team/app', ...where]);
      expect(tags.stdout).toMatch(/^multi\s+sha256:[0-9a-f]{12}\s+\S+ \S+\s+linux\/amd64,linux\/arm64\/v8\s+\d{4}-/m);
      const du = await berth(['du', ...where]);
      expect(du.stdout).toMatch(/^team\/app\s+/m);
      expect(du.stdout).toContain('(shared layers counted once)');
      const missing = await berth(['tags', 'no/such', ...where]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/NAME_UNKNOWN/);
    }
    const estimate = await berth(['du', '--json', '--config', configFile]);
    expect(JSON.parse(estimate.stdout).gcWouldFree).toBe(0);
  });

  it('berth rm deletes a tag, or a manifest with its tags, on the storage or through the server', async () => {
    const extra = await pushImage('team/rm', 'one', 'amd64', Buffer.alloc(100, 'r'));
    await client.pushManifest('team/rm', 'two', JSON.parse((await client.get(`/v2/team/rm/manifests/${extra.digest}`)).body.toString()));
    const tag = await berth(['rm', 'team/rm:one', '--config', configFile]);
    expect(tag.code, tag.stderr).toBe(0);
    expect((await client.get('/v2/team/rm/manifests/one')).status).toBe(404);
    expect((await client.get('/v2/team/rm/manifests/two')).status).toBe(200);
    const manifest = await berth(['rm', `team/rm@${extra.digest}`, '--url', server.url]);
    expect(manifest.code, manifest.stderr).toBe(0);
    expect(manifest.stderr).toContain(`deleted manifest team/rm@${extra.digest} and the tags naming it`);
    expect((await client.get('/v2/team/rm/manifests/two')).status).toBe(404);
    const whole = await berth(['rm', 'team/rm', '--config', configFile]);
    expect(whole.code).toBe(2);
    expect(whole.stderr).toMatch(/give NAME:TAG or NAME@DIGEST/);
    const gone = await berth(['rm', 'team/rm:one', '--url', server.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/404 MANIFEST_UNKNOWN/);
  });
});

describe('repositories with token auth', { timeout: 60_000 }, () => {
  it('shows each caller only what it may pull, and asks anonymous callers to sign in', async () => {
    const auth = await startAuthServer();
    try {
      const alice = new Client(auth.server.url, { Authorization: basic('alice', 'alice-password-1') });
      const layer = await alice.pushBlob('team-a/secret', 'layer');
      await alice.pushManifest('team-a/secret', 'v1', imageManifest([await alice.pushBlob('team-a/secret', '{}'), 2], [[layer, 5]]));
      await alice.pushManifest('public/tool', 'v1', imageManifest([await alice.pushBlob('public/tool', '{}'), 2], [[await alice.pushBlob('public/tool', 'x'), 1]]));
      expect(sha256('layer')).toBe(layer);

      const anonymous = new Client(auth.server.url);
      expect((await anonymous.get('/api/repositories')).json.repositories.map((r: { name: string }) => r.name)).toEqual(['public/tool']);
      expect((await anonymous.get('/api/repositories/team-a/secret/tags')).status).toBe(401);
      expect((await anonymous.get('/api/repositories/team-a/nothing/tags')).status).toBe(401);
      expect((await anonymous.get('/api/usage')).json.repositories.map((r: { name: string }) => r.name)).toEqual(['public/tool']);
      const names = (await alice.get('/api/repositories')).json.repositories.map((r: { name: string }) => r.name);
      expect(names).toEqual(['public/tool', 'team-a/secret']);

      const repos = await berth(['repos', '--url', auth.server.url]);
      expect(repos.stdout).toMatch(/public\/tool/);
      expect(repos.stdout).not.toMatch(/team-a/);
    } finally {
      await auth.cleanup();
    }
  });
});
