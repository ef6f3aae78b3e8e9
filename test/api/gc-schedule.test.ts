/** Scheduled gc: one replica per period (a claim in storage), results in the log, metrics and storage. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { GcSchedule } from '../../src/gc-schedule.js';
import { Metrics } from '../../src/metrics/index.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { Client } from '../helpers/http.js';
import { sample } from '../helpers/prometheus.js';
import { filesystemConfig, startTestServer } from '../helpers/server.js';

/** Writes blob bytes no repository links (what gc frees); returns the digest's hex. */
async function orphanBlob(root: string, data: Buffer): Promise<string> {
  const hex = createHash('sha256').update(data).digest('hex');
  const dir = join(root, 'blobs/sha256', hex.slice(0, 2), hex);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data'), data);
  return hex;
}

const gcConfig = { grace: '0s', uploadTtl: '24h', deleteUntagged: false, schedule: '1h' };

describe('scheduled gc', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    // Last in, first out: a server stops before the storage folder under it is removed.
    for (const clean of cleanups.reverse()) await clean();
  });

  it('runs on exactly one of two replicas per period, with metrics and a stored report', async () => {
    const { config, cleanup } = await filesystemConfig();
    cleanups.push(cleanup);
    const root = config.storage.filesystem.root;
    const driver = createFilesystemDriver(root);
    const log = pino({ level: 'silent' });
    const replicas = ['a', 'b'].map((replica) => {
      const metrics = new Metrics({ processMetrics: false });
      return { metrics, schedule: new GcSchedule(gcConfig, { driver, log, metrics, replica }) };
    });
    const blob = Buffer.from('nobody links me');
    const hex = await orphanBlob(root, blob);
    const now = Date.UTC(2026, 0, 1, 10, 30);
    const reports = await Promise.all(replicas.map((r) => r.schedule.tick(now)));
    expect(reports.filter((r) => r !== undefined)).toHaveLength(1);
    const winner = reports.findIndex((r) => r !== undefined);
    expect(reports[winner]).toMatchObject({ blobsDeleted: 1, bytesFreed: blob.length });
    await expect(readFile(join(root, 'blobs/sha256', hex.slice(0, 2), hex, 'data'))).rejects.toThrow();

    const text = await replicas[winner]!.metrics.registry.metrics();
    expect(sample(text, 'berth_gc_runs_total', { result: 'ok' })).toBe(1);
    expect(sample(text, 'berth_gc_bytes_freed_total')).toBe(blob.length);
    expect(sample(text, 'berth_gc_deleted_total', { kind: 'blob' })).toBe(1);
    expect(sample(await replicas[1 - winner]!.metrics.registry.metrics(), 'berth_gc_runs_total', { result: 'ok' })).toBe(0);
    const last = JSON.parse(await readFile(join(root, '_berth/gc/last.json'), 'utf8'));
    expect(last).toMatchObject({ replica: ['a', 'b'][winner], blobsDeleted: 1, bytesFreed: blob.length });

    // Later in the same period: nobody runs again. The next period: one runs.
    expect(await Promise.all(replicas.map((r) => r.schedule.tick(now + 20 * 60_000)))).toEqual([undefined, undefined]);
    const next = await Promise.all(replicas.map((r) => r.schedule.tick(now + 60 * 60_000)));
    expect(next.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('runs in the server on gc.schedule, logging what it did; not in read-only mode', async () => {
    const { config, cleanup } = await filesystemConfig((c) => {
      c.gc = { ...c.gc, schedule: '1s', grace: '0s' };
    });
    cleanups.push(cleanup);
    const root = config.storage.filesystem.root;
    const hex = await orphanBlob(root, Buffer.from('gc me on schedule'));

    const readOnly = await startTestServer({ ...config, readOnly: true });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await readOnly.close();
    expect(readOnly.logs.some((l) => l.msg === 'scheduled gc finished')).toBe(false);
    await expect(readFile(join(root, 'blobs/sha256', hex.slice(0, 2), hex, 'data'))).resolves.toBeDefined();

    const server = await startTestServer(config);
    cleanups.push(() => server.close());
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !line; i++) {
      line = server.logs.find((l) => l.msg === 'scheduled gc finished');
      if (!line) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(line).toMatchObject({ blobsDeleted: 1, level: 30 });
    await expect(readFile(join(root, 'blobs/sha256', hex.slice(0, 2), hex, 'data'))).rejects.toThrow();
    const text = (await new Client(server.url).get('/metrics')).body.toString();
    expect(sample(text, 'berth_gc_runs_total', { result: 'ok' })).toBeGreaterThanOrEqual(1);
  });
});
