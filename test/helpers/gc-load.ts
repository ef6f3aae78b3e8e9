/**
 * Garbage collection under load, on any storage: image pushes (shared layers, blobs of deleted
 * images pushed again, manifests deleted meanwhile) while gc runs again and again with a short
 * grace period. Afterwards every image whose push was acknowledged must pull with verified
 * digests, fsck must find nothing, and nothing unreferenced may be left once the grace period has
 * passed. Bounded in count and time (`GC_LOAD_IMAGES`, `GC_LOAD_SECONDS`).
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { collectGarbage } from '../../src/registry/gc.js';
import { Client } from './http.js';
import { fsckErrors, type PushedImage, pushImage, sleep, unreferenced, verifyImage } from './load.js';

export interface GcLoadResult {
  pushed: number;
  acknowledged: number;
  deleted: number;
  verified: number;
  /** Pushes that had to start over because a blob vanished under them (the client-visible cost). */
  retries: number;
  /** Pushes given up after every retry (never acknowledged: nothing is lost by them). */
  failed: number;
  /** Blobs a HEAD found, so the push reused them. */
  reused: number;
  gcRuns: number;
  blobsCollected: number;
  /** Images that did not pull back whole: must be empty. */
  broken: string[];
  fsck: string[];
  leftovers: string[];
}

export async function gcUnderLoad(url: string, gcDriver: StorageDriver, checkDriver: StorageDriver, options: { images?: number; seconds?: number; graceMs?: number; workers?: number } = {}): Promise<GcLoadResult> {
  const images = options.images ?? Number(process.env.GC_LOAD_IMAGES ?? 30);
  const durationMs = (options.seconds ?? Number(process.env.GC_LOAD_SECONDS ?? 20)) * 1000;
  const graceMs = options.graceMs ?? 400;
  const workers = options.workers ?? 3;
  const client = new Client(url);
  const shared = [randomBytes(4000), randomBytes(9000), randomBytes(15000)];
  /** Unique layers of deleted images, per repository: pushed again by a later image there. */
  const recycled = new Map<string, Buffer[]>();
  const acknowledged = new Map<string, PushedImage>();
  const result: GcLoadResult = { pushed: 0, acknowledged: 0, deleted: 0, verified: 0, retries: 0, failed: 0, reused: 0, gcRuns: 0, blobsCollected: 0, broken: [], fsck: [], leftovers: [] };
  const deadline = Date.now() + durationMs;
  const pace = (durationMs * workers) / images / 2;
  let next = 0;
  let pushing = true;

  const gcLoop = (async () => {
    while (pushing) {
      const report = await collectGarbage(gcDriver, { dryRun: false, graceMs, uploadTtlMs: graceMs * 20, deleteUntagged: result.gcRuns % 2 === 1 });
      result.gcRuns += 1;
      result.blobsCollected += report.blobsDeleted;
      await sleep(20);
    }
  })();

  const worker = async (): Promise<void> => {
    while (next < images && Date.now() < deadline) {
      const i = next++;
      const name = `gcload/r${i % 4}`;
      const layers: Buffer[] = [shared[i % shared.length]!, randomBytes(1000 + ((i * 7919) % 20000))];
      const again = recycled.get(name)?.shift();
      if (again) layers.push(again);
      result.pushed += 1;
      const pushed = await pushImage(client, name, `t${i}`, layers);
      result.retries += pushed.attempts - 1;
      result.reused += pushed.skipped;
      if (!pushed.image) {
        result.failed += 1;
        continue;
      }
      acknowledged.set(`${name}:t${i}`, pushed.image);
      if (i % 3 === 2) {
        // Deleted a little later: its own layer becomes garbage, which a later push reuses.
        await sleep(Math.random() * graceMs * 2);
        const res = await client.delete(`/v2/${name}/manifests/${pushed.image.manifest}`);
        if (res.status !== 202) throw new Error(`DELETE ${name}@${pushed.image.manifest}: ${res.status} ${res.body.toString()}`);
        acknowledged.delete(`${name}:t${i}`);
        result.deleted += 1;
        recycled.set(name, [...(recycled.get(name) ?? []), layers[1]!]);
      }
      await sleep(Math.random() * pace);
    }
  };

  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    pushing = false;
    await gcLoop;
  }
  result.acknowledged = acknowledged.size + result.deleted;

  // Past the grace period, a last collection: everything unreferenced must go.
  await sleep(graceMs + 50);
  await collectGarbage(gcDriver, { dryRun: false, graceMs, uploadTtlMs: 0, deleteUntagged: true });
  for (const image of acknowledged.values()) {
    const problem = await verifyImage(client, image);
    if (problem) result.broken.push(problem);
    else result.verified += 1;
  }
  result.fsck = await fsckErrors(checkDriver);
  result.leftovers = await unreferenced(checkDriver);
  return result;
}

/** What gc under load must come out with: every acknowledged image whole, nothing left over. */
export function expectGcLoadClean(result: GcLoadResult): void {
  expect(result.broken).toEqual([]);
  expect(result.fsck).toEqual([]);
  expect(result.leftovers).toEqual([]);
  expect(result.acknowledged).toBeGreaterThanOrEqual(result.pushed * 0.8);
  expect(result.verified).toBe(result.acknowledged - result.deleted);
  expect(result.gcRuns).toBeGreaterThan(2);
  expect(result.deleted).toBeGreaterThan(0);
  expect(result.reused).toBeGreaterThan(0);
}
