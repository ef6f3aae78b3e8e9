/**
 * Garbage collection under load on the filesystem (test/helpers/gc-load.ts; the same on RGW in
 * test/api/rgw-robust.test.ts): nothing acknowledged is lost, nothing unreferenced is left.
 */
import { describe, expect, it } from 'vitest';
import { createStorageDriver } from '../../src/storage.js';
import { gcUnderLoad } from '../helpers/gc-load.js';
import { filesystemConfig, startTestServer } from '../helpers/server.js';

describe('gc under load', { timeout: 180_000 }, () => {
  it('loses no acknowledged image and leaves nothing unreferenced, on the filesystem', async () => {
    const made = await filesystemConfig();
    const server = await startTestServer(made.config);
    try {
      const gcDriver = await createStorageDriver(made.config.storage); // as `berth gc` would: its own driver
      const result = await gcUnderLoad(server.url, gcDriver, server.app.registry.driver);
      console.log('gc under load (filesystem):', JSON.stringify({ ...result, broken: result.broken.length, fsck: result.fsck.length, leftovers: result.leftovers.length }));
      expect(result.broken).toEqual([]);
      expect(result.fsck).toEqual([]);
      expect(result.leftovers).toEqual([]);
      expect(result.acknowledged).toBeGreaterThanOrEqual(result.pushed * 0.8);
      expect(result.verified).toBe(result.acknowledged - result.deleted);
      expect(result.gcRuns).toBeGreaterThan(3);
      expect(result.deleted).toBeGreaterThan(0);
      expect(result.reused).toBeGreaterThan(0);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });
});
