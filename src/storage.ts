/** Config -> the storage driver it names. */
import type { StorageDriver } from '../storage-drivers/driver.js';
import { createFilesystemDriver } from '../storage-drivers/filesystem.js';
import { createMemoryDriver } from '../storage-drivers/memory.js';
import type { Config } from './config.js';

export async function createStorageDriver(storage: Config['storage']): Promise<StorageDriver> {
  switch (storage.driver) {
    case 'filesystem':
      return createFilesystemDriver(storage.filesystem.root);
    case 's3': {
      // Loaded only when used: the AWS SDK alone costs a registry on disk some 20 MiB.
      const { createS3Driver } = await import('../storage-drivers/s3.js');
      const { sessionToken, accessKeyId, secretAccessKey, endpoint, serverSideEncryption, ...rest } = storage.s3;
      return createS3Driver({
        ...rest,
        endpoint: endpoint || undefined,
        serverSideEncryption,
        // Empty keys: the SDK's own chain (AWS_* environment, profile, instance role).
        ...(accessKeyId ? { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined } : {}),
      });
    }
    case 'memory':
      return createMemoryDriver();
  }
}
