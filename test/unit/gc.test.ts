import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
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

  it('runs from the command line', async () => {
    await client.pushBlob('gc/cli', 'unreferenced');
    const dir = await tempDir('berth-gc-');
    onTestFinished(dir.remove);
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, `storage:\n  filesystem:\n    root: ${root}\n`);
    const cli = join(import.meta.dirname, '../../dist/src/cli.js');
    const dry = spawnSync(process.execPath, [cli, 'gc', '--config', config, '--dry-run', '--grace', '0s'], { encoding: 'utf8' });
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/would delete: 1 blobs \(12 bytes\), 1 unreferenced layer links/);
    const real = spawnSync(process.execPath, [cli, 'gc', '--config', config, '--grace', '0s'], { encoding: 'utf8' });
    expect(real.stdout).toMatch(/deleted: 1 blobs/);
    expect((await client.get(`/v2/gc/cli/blobs/${sha256('unreferenced')}`)).status).toBe(404);
    const bad = spawnSync(process.execPath, [cli, 'gc', '--config', config, '--grace', 'soon'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--grace: not a duration/);
  });
});
