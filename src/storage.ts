/** Config -> the storage driver it names. */
import type { StorageDriver } from '../storage-drivers/driver.js';
import { createFilesystemDriver } from '../storage-drivers/filesystem.js';
import { createMemoryDriver } from '../storage-drivers/memory.js';
import type { Config } from './config.js';

export function createStorageDriver(storage: Config['storage']): StorageDriver {
  switch (storage.driver) {
    case 'filesystem':
      return createFilesystemDriver(storage.filesystem.root);
    case 'memory':
      return createMemoryDriver();
  }
}
