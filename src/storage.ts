/** Config -> the storage driver it names, and a short description of it for messages. */
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

/** Where the config keeps its data, for messages: `filesystem /srv/berth`, `s3 bucket b at URL`. */
export function describeStorage(storage: Config['storage']): string {
  switch (storage.driver) {
    case 'filesystem':
      return `filesystem ${storage.filesystem.root}`;
    case 's3':
      return `s3 bucket ${storage.s3.bucket}${storage.s3.prefix ? ` prefix ${storage.s3.prefix}` : ''}${storage.s3.endpoint ? ` at ${storage.s3.endpoint}` : ''}`;
    default:
      return storage.driver;
  }
}
