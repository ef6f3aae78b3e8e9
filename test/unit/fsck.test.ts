/**
 * `berth fsck` on the filesystem: a clean registry is clean; each kind of damage is found and
 * named with its path and digest; --quick skips re-hashing; --repair removes only what can only be
 * garbage, never before the grace period, never blob bytes or a manifest; and the command's exit
 * status, lines and JSON. (The same scenario runs on RGW in test/api/rgw-robust.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStorage, type FsckOptions } from '../../src/registry/fsck.js';
import * as layout from '../../src/registry/layout.js';
import { makeFsckScenario, problemKey } from '../helpers/fsck-scenario.js';
import { Client, imageManifest } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const HOUR = 3_600_000;

describe('berth fsck', () => {
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
    await rm(`${root}.yaml`, { force: true });
  });

  const fsck = (options: Partial<FsckOptions> = {}) => checkStorage(server.app.registry.driver, { graceMs: HOUR, uploadTtlMs: 24 * HOUR, ...options });
  const berth = (args: string[]) => spawnSync(process.execPath, [CLI, 'fsck', '--config', `${root}.yaml`, ...args], { encoding: 'utf8' });

  it('finds nothing wrong in a registry that is whole', async () => {
    const config = await client.pushBlob('whole/app', '{"os":"linux"}');
    const layer = await client.pushBlob('whole/app', 'layer bytes');
    await client.pushManifest('whole/app', 'v1', imageManifest([config, 14], [[layer, 11]]));
    await client.startUpload('whole/app'); // an upload under way is no problem
    const report = await fsck();
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ blobs: 3, repositories: 1, manifests: 1, tags: 1, uploads: 1, errors: 0 });
    expect(report.bytesHashed).toBeGreaterThan(25);
  });

  it('names every kind of damage with its path and digest, and repairs only garbage past the grace period', async () => {
    const scenario = await makeFsckScenario(client, server.app.registry.driver);
    // Grace 0: an upload that lost its data a moment ago counts too (within the grace period it
    // could be one finishing right now).
    const report = await fsck({ graceMs: 0 });
    const keys = report.problems.filter((p) => p.severity === 'error').map(problemKey).sort();
    expect(keys).toEqual(scenario.expected);
    for (const problem of report.problems) expect(problem.path).toMatch(/^\//);
    expect(report.problems.find((p) => p.kind === 'blob-corrupt')).toMatchObject({ path: layout.blobData(scenario.corrupt.split(' ')[1]!), message: expect.stringMatching(/hash to sha256:/) });
    expect(report.errors).toBe(scenario.expected.length);

    // --quick does not read the bytes: the corrupt blob goes unseen.
    const quick = await fsck({ quick: true, graceMs: 0 });
    expect(quick.problems.map(problemKey)).not.toContain(scenario.corrupt);
    expect(quick.bytesHashed).toBe(0);

    // Within the grace period, repair removes nothing.
    const young = await fsck({ repair: true });
    expect(young.repaired).toBe(0);

    const repaired = await fsck({ repair: true, graceMs: 0 });
    expect(repaired.problems.filter((p) => p.repaired).map(problemKey).sort()).toEqual(scenario.repairable);
    for (const digest of scenario.kept) expect((await server.app.registry.driver.stat(layout.blobData(digest))).size).toBeGreaterThan(0);

    const after = await fsck({ graceMs: 0 });
    expect(after.problems.filter((p) => p.repairable)).toEqual([]);
    expect(after.problems.filter((p) => p.severity === 'error').map(problemKey).sort()).toEqual(scenario.expected.filter((k) => !scenario.repairable.includes(k)));
  });

  it('runs as `berth fsck`: exit 0 when clean, 1 with one line per problem, --json, --repair', async () => {
    await writeFile(`${root}.yaml`, `storage:\n  driver: filesystem\n  filesystem: { root: ${root} }\n`);
    const clean = berth([]);
    expect(clean.stderr).toBe('');
    expect(clean.status).toBe(0);
    expect(clean.stdout).toMatch(/^checked filesystem .*\nclean\n$/);

    const scenario = await makeFsckScenario(client, server.app.registry.driver);
    const found = berth(['--grace', '0s']);
    expect(found.status).toBe(1);
    const lines = found.stdout.split('\n').filter((l) => l.startsWith('error '));
    expect(lines).toHaveLength(scenario.expected.length);
    expect(found.stdout).toContain(`error blob-corrupt ${layout.blobData(scenario.corrupt.split(' ')[1]!)} ${scenario.corrupt.split(' ')[1]}: the bytes hash to sha256:`);
    expect(found.stdout).toMatch(/\n15 problems\n$/);

    const json = berth(['--json', '--quick', '--grace', '0s']);
    expect(json.status).toBe(1);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ clean: false, errors: scenario.expected.length - 1, bytesHashed: 0 });
    expect(parsed.problems.length).toBeGreaterThanOrEqual(scenario.expected.length - 1);

    const repair = berth(['--repair', '--grace', '0s']);
    expect(repair.status).toBe(1); // what cannot be repaired stays
    expect(repair.stdout).toContain('(removed)');
    expect(berth(['--grace', 'soon']).stderr).toBe('berth: --grace: not a duration (like 30m, 1h, 7d): soon\nberth fsck --help shows the usage\n');
  });
});
