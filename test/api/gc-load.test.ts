/**
 * Garbage collection under load on the filesystem (test/helpers/gc-load.ts; the same on RGW in
 * test/api/rgw-robust.test.ts): nothing acknowledged is lost, nothing unreferenced is left.
 */
import { describe, it } from 'vitest';
import { createStorageDriver } from '../../src/storage.js';
import { expectGcLoadClean, gcUnderLoad } from '../helpers/gc-load.js';
import { filesystemConfig, startTestServer } from '../helpers/server.js';

describe('gc under load', { timeout: 180_000 }, () => {
  it('loses no acknowledged image and leaves nothing unreferenced, on the filesystem', async () => {
    const made = await filesystemConfig();
    const server = await startTestServer(made.config);
    try {
      const gcDriver = await createStorageDriver(made.config.storage); // as `berth gc` would: its own driver
      const result = await gcUnderLoad(server.url, gcDriver, server.app.registry.driver);
      console.log('gc under load (filesystem):', JSON.stringify({ ...result, broken: result.broken.length, fsck: result.fsck.length, leftovers: result.leftovers.length }));
      expectGcLoadClean(result);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });
});
