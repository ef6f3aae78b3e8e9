/**
 * The API suite on S3 storage served by a real RADOS Gateway (test/helpers/rgw.ts) instead of
 * s3rver. Skipped when the Ceph packages are not installed.
 */
import { describe } from 'vitest';
import { rgwConfig } from '../helpers/rgw-config.js';
import { rgwAvailable, useRgw } from '../helpers/rgw.js';
import { runApiSuite } from './suite.js';

describe.skipIf(!rgwAvailable())('RADOS Gateway', () => {
  const rgw = useRgw();
  runApiSuite('s3 on RGW', (overrides) => rgwConfig(rgw(), overrides));
});
