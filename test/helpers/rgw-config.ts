/** Berth configs on a RADOS Gateway (test/helpers/rgw.ts): a fresh key prefix per config, so tests sharing a bucket never meet. */
import { randomBytes } from 'node:crypto';
import type { Config } from '../../src/config.js';
import type { RgwHandle } from './rgw.js';
import { filesystemConfig } from './server.js';

export async function rgwConfig(
  rgw: RgwHandle,
  overrides: (config: Config) => void = () => {},
  prefix = `berth-${randomBytes(4).toString('hex')}`,
): Promise<{ config: Config; cleanup: () => Promise<void> }> {
  const { config, cleanup } = await filesystemConfig();
  config.storage = {
    ...config.storage,
    driver: 's3',
    s3: {
      ...config.storage.s3,
      bucket: rgw.bucket,
      region: rgw.region,
      endpoint: rgw.endpoint,
      forcePathStyle: true,
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: rgw.secretAccessKey,
      prefix,
      // S3's smallest part, so that test-sized blobs cross part boundaries.
      partSize: 5 * 1024 * 1024,
    },
  };
  overrides(config);
  return {
    config,
    cleanup: async () => {
      await rgw.deletePrefix(`${prefix}/`);
      await cleanup();
    },
  };
}
