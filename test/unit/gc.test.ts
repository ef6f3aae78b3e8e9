import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { collectGarbage } from '../../src/registry/gc.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

describe('garbage collection', () => {
  let server: TestServer;
  let client: Client;
  let cleanup: () => Promise<void>;
  let root: string;

  beforeEach(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    root = made.config.storage.filesystem.root;
    server = await startTestServer(made.config);
    client = new Client(server.url);
  });
  afterEach(async () => {
    await server.close();
    await cleanup();
  });

  async function image(name: string, tag: string, shared: Buffer) {
    const config = Buffer.from(JSON.stringify({ os: 'linux', tag, n: randomBytes(4).toString('hex') }));
    const own = randomBytes(500);
    const digests = [await client.pushBlob(name, config), await client.pushBlob(name, shared), await client.pushBlob(name, own)];
    const digest = await client.pushManifest(name, tag, imageManifest([digests[0]!, config.length], [[digests[1]!, shared.length], [digests[2]!, own.length]]));
    return { digest, config: digests[0]!, shared: digests[1]!, own: digests[2]! };
  }

  it('deletes what only a deleted manifest needed, keeps what others need, and abandoned uploads', async () => {
    const shared = randomBytes(1000);
    const kept = await image('gc/a', 'keep', shared);
    const gone = await image('gc/b', 'gone', shared);
    const orphanUpload = await client.startUpload('gc/a');
    expect((await client.delete(`/v2/gc/b/manifests/${gone.digest}`)).status).toBe(202);
    const driver = server.app.registry.driver;

    const young = await collectGarbage(driver, { dryRun: false, graceMs: 3_600_000, uploadTtlMs: 3_600_000 });
    expect(young.blobsDeleted).toBe(0);
    expect(young.uploadsDeleted).toBe(0);

    const dry = await collectGarbage(driver, { dryRun: true, graceMs: 0, uploadTtlMs: 0 });
    expect(dry).toMatchObject({ repositories: 2, blobsDeleted: 3, linksDeleted: 3, uploadsDeleted: 1 });
    expect((await client.get(`/v2/gc/b/blobs/${gone.own}`)).status).toBe(200);

    const report = await collectGarbage(driver, { dryRun: false, graceMs: 0, uploadTtlMs: 0 });
    expect(report).toMatchObject({ repositories: 2, manifests: 1, blobsDeleted: 3, linksDeleted: 3, uploadsDeleted: 1 });
    expect(report.bytesFreed).toBeGreaterThan(500);
    for (const blob of [gone.own, gone.config, gone.digest]) {
      await expect(driver.stat(`/blobs/sha256/${blob.slice(7, 9)}/${blob.slice(7)}/data`)).rejects.toThrow();
    }
    expect((await client.get(`/v2/gc/b/blobs/${gone.own}`)).status).toBe(404);
    expect((await client.get(orphanUpload)).status).toBe(404);
    for (const blob of [kept.config, kept.shared, kept.own]) expect((await client.get(`/v2/gc/a/blobs/${blob}`)).status).toBe(200);
    expect((await client.get(`/v2/gc/a/manifests/keep`)).status).toBe(200);

    const again = await collectGarbage(driver, { dryRun: false, graceMs: 0, uploadTtlMs: 0 });
    expect(again).toMatchObject({ blobsDeleted: 0, linksDeleted: 0, uploadsDeleted: 0, blobsKept: 4 });
  });

  it('keeps blobs pushed a moment ago whose manifest has not arrived yet', async () => {
    const digest = await client.pushBlob('gc/pending', 'layer in flight');
    const report = await collectGarbage(server.app.registry.driver, { dryRun: false, graceMs: 60_000, uploadTtlMs: 0 });
    expect(report.blobsDeleted).toBe(0);
    expect((await client.get(`/v2/gc/pending/blobs/${digest}`)).status).toBe(200);
    expect(digest).toBe(sha256('layer in flight'));
  });

  describe('--delete-untagged', () => {
    const gc = (options: Partial<Parameters<typeof collectGarbage>[1]> = {}) =>
      collectGarbage(server.app.registry.driver, { dryRun: false, graceMs: 0, uploadTtlMs: 3_600_000, deleteUntagged: true, ...options });
    const blobGone = async (digest: string) => {
      await expect(server.app.registry.driver.stat(`/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`)).rejects.toThrow();
    };

    it('frees the old revisions of a re-pushed tag (plain gc frees none of them)', async () => {
      const shared = randomBytes(300);
      const first = await image('ci/app', 'latest', shared);
      const second = await image('ci/app', 'latest', shared);
      const third = await image('ci/app', 'latest', shared);

      const plain = await collectGarbage(server.app.registry.driver, { dryRun: false, graceMs: 0, uploadTtlMs: 3_600_000 });
      expect(plain.blobsDeleted).toBe(0);

      const report = await gc();
      expect(report.manifestsDeleted).toBe(2);
      for (const old of [first, second]) {
        expect((await client.get(`/v2/ci/app/manifests/${old.digest}`)).status).toBe(404);
        for (const blob of [old.digest, old.config, old.own]) await blobGone(blob);
      }
      expect((await client.get('/v2/ci/app/manifests/latest')).status).toBe(200);
      for (const blob of [third.config, third.shared, third.own]) expect((await client.get(`/v2/ci/app/blobs/${blob}`)).status).toBe(200);
      expect((await gc()).manifestsDeleted).toBe(0);
    });

    it("keeps a tagged index's children and a kept image's referrers; deletes an untagged index with its children and referrers", async () => {
      const a = await image('ci/multi', 'a-only', randomBytes(100));
      const b = await image('ci/multi', 'b-only', randomBytes(100));
      const c = await image('ci/multi', 'c-only', randomBytes(100));
      const index = (children: { digest: string }[]) => ({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: children.map((child) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child.digest, size: 1 })),
      });
      // Child sizes must be right: push the indexes with the real sizes of the children.
      const sized = async (children: { digest: string }[]) => {
        const manifest = index(children);
        for (const d of manifest.manifests) d.size = (await client.get(`/v2/ci/multi/manifests/${d.digest}`)).body.length;
        return manifest;
      };
      const taggedIndex = await client.pushManifest('ci/multi', 'v1', await sized([a, b]));
      const untaggedIndex = await client.pushManifest('ci/multi', 'scratch', await sized([c]));
      const emptyConfig = await client.pushBlob('ci/multi', '{}');
      const artifact = (subject: string) =>
        imageManifest([emptyConfig, 2], [], {
          artifactType: 'application/spdx+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyConfig, size: 2 },
          subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 1 },
          annotations: { n: randomBytes(4).toString('hex') },
        });
      const byDigest = (manifest: Record<string, unknown>) => client.pushManifest('ci/multi', sha256(JSON.stringify(manifest)), manifest);
      const sbomOfKept = await byDigest(artifact(a.digest));
      const sbomOfGone = await byDigest(artifact(c.digest));
      // Only the indexes stay tagged.
      for (const tag of ['a-only', 'b-only', 'c-only', 'scratch']) expect((await client.delete(`/v2/ci/multi/manifests/${tag}`)).status).toBe(202);

      const dry = await gc({ dryRun: true });
      expect(dry.manifestsDeleted).toBe(3);
      expect((await client.get(`/v2/ci/multi/manifests/${untaggedIndex}`)).status).toBe(200);

      const items: string[] = [];
      const report = await gc({ onItem: (item) => item.kind === 'manifest' && items.push(item.digest!) });
      expect(items.sort()).toEqual([untaggedIndex, c.digest, sbomOfGone].sort());
      expect(report.manifestsDeleted).toBe(3);
      for (const kept of [taggedIndex, a.digest, b.digest, sbomOfKept]) expect((await client.get(`/v2/ci/multi/manifests/${kept}`)).status).toBe(200);
      for (const gone of [untaggedIndex, c.digest, sbomOfGone]) expect((await client.get(`/v2/ci/multi/manifests/${gone}`)).status).toBe(404);
      const referrers = (await client.get(`/v2/ci/multi/referrers/${a.digest}`)).json as { manifests: { digest: string }[] };
      expect(referrers.manifests.map((m) => m.digest)).toEqual([sbomOfKept]);
      expect(((await client.get(`/v2/ci/multi/referrers/${c.digest}`)).json as { manifests: unknown[] }).manifests).toEqual([]);
    });

    it('keeps untagged manifests younger than the grace period, and says so', async () => {
      const first = await image('ci/young', 'latest', randomBytes(100));
      await image('ci/young', 'latest', randomBytes(100));
      const report = await gc({ graceMs: 3_600_000 });
      expect(report.manifestsDeleted).toBe(0);
      expect(report.heldBack.manifests).toBe(1);
      expect((await client.get(`/v2/ci/young/manifests/${first.digest}`)).status).toBe(200);
    });
  });

  it('runs from the command line', async () => {
    await client.pushBlob('gc/cli', 'unreferenced');
    const dir = await tempDir('berth-gc-');
    onTestFinished(dir.remove);
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, `storage:\n  filesystem:\n    root: ${root}\n`);
    const cli = join(import.meta.dirname, '../../dist/src/cli.js');
    // Asynchronous: a synchronous spawn would hold this process's event loop, and with it the
    // HTTP client's keep-alive bookkeeping (it would then reuse a connection the server closed).
    const berth = async (...args: string[]) => {
      const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [status] = (await once(child, 'exit')) as [number | null];
      return { status, stdout, stderr };
    };
    const dry = await berth('gc', '--config', config, '--dry-run', '--grace', '0s');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/would delete: 0 untagged manifests, 1 blobs \(12 bytes\), 1 unreferenced layer links/);
    const real = await berth('gc', '--config', config, '--grace', '0s');
    expect(real.stdout).toMatch(/deleted: 0 untagged manifests, 1 blobs/);
    expect((await client.get(`/v2/gc/cli/blobs/${sha256('unreferenced')}`)).status).toBe(404);
    const first = await image('gc/cli', 'latest', randomBytes(10));
    await image('gc/cli', 'latest', randomBytes(10));
    const held = await berth('gc', '--config', config, '--dry-run', '--delete-untagged');
    expect(held.stdout).toMatch(/would delete: 0 untagged manifests/);
    expect(held.stdout).toMatch(/held back by the grace period \(1h\): 1 manifests, 0 layer links, \d+ blobs/);
    const listed = await berth('gc', '--config', config, '--dry-run', '--delete-untagged', '--grace', '0s', '--verbose');
    expect(listed.stdout).toContain(`would delete manifest gc/cli@${first.digest}\n`);
    expect(listed.stdout).toContain(`would delete blob ${first.own} (500 bytes)\n`);
    const json = await berth('gc', '--config', config, '--delete-untagged', '--grace', '0s', '--json');
    const parsed = JSON.parse(json.stdout) as { manifestsDeleted: number; items: { kind: string; digest?: string }[] };
    expect(parsed.manifestsDeleted).toBe(1);
    expect(parsed.items).toContainEqual({ kind: 'manifest', repository: 'gc/cli', digest: first.digest });
    expect((await client.get(`/v2/gc/cli/manifests/${first.digest}`)).status).toBe(404);
    const bad = await berth('gc', '--config', config, '--grace', 'soon');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--grace: not a duration/);
  });
});
