/** Berth configs on s3rver: a fresh key prefix per config, so tests sharing a bucket never meet. */
import { randomBytes } from 'node:crypto';
import type { Config } from '../../src/config.js';
import type { S3rverHandle } from './s3rver.js';
import { filesystemConfig } from './server.js';

export async function s3Config(
  s3: S3rverHandle,
  overrides: (config: Config) => void = () => {},
  prefix = `berth-${randomBytes(4).toString('hex')}`,
): Promise<{ config: Config; cleanup: () => Promise<void> }> {
  const { config, cleanup } = await filesystemConfig();
  const options = s3.driverOptions();
  config.storage = {
    ...config.storage,
    driver: 's3',
    s3: {
      ...config.storage.s3,
      bucket: options.bucket,
      region: options.region,
      endpoint: options.endpoint!,
      forcePathStyle: true,
      accessKeyId: options.accessKeyId!,
      secretAccessKey: options.secretAccessKey!,
      prefix,
      // S3's smallest part, so that test-sized blobs cross part boundaries.
      partSize: 5 * 1024 * 1024,
    },
  };
  overrides(config);
  return {
    config,
    cleanup: async () => {
      await s3.deletePrefix(`${prefix}/`);
      await cleanup();
    },
  };
}
