/**
 * The metrics wrapper around a storage driver counts operations and must hide none of the
 * driver's optional capabilities (file modes for the secret-file check, redirects, fast reads):
 * a method the driver has and the wrapper lacks silently turns a feature off.
 */
import { describe, expect, it } from 'vitest';
import { OPTIONAL_DRIVER_METHODS, type StorageDriver } from '../../storage-drivers/driver.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { Metrics } from '../../src/metrics/index.js';
import { MeteredDriver } from '../../src/metrics/storage.js';
import { tempDir } from '../helpers/tmp.js';


describe('MeteredDriver', () => {
  it('has each optional method exactly when the driver it wraps has it, and counts operations', async () => {
    const dir = await tempDir('berth-metered-');
    try {
      for (const inner of [createFilesystemDriver(dir.path), createMemoryDriver()] as StorageDriver[]) {
        const metrics = new Metrics({ processMetrics: false });
        const wrapped = new MeteredDriver(inner, metrics);
        for (const name of OPTIONAL_DRIVER_METHODS) expect(typeof wrapped[name], `${inner.name}.${name}`).toBe(typeof inner[name]);
        await wrapped.putContent('/a', Buffer.from('x'));
        expect(await metrics.registry.getSingleMetricAsString('berth_storage_operations_total')).toContain(`driver="${inner.name}",operation="putContent",result="ok"} 1`);
      }
    } finally {
      await dir.remove();
    }
  });
});
