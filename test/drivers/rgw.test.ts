/**
 * The shared driver suite against a real S3 implementation: Ceph's RADOS Gateway on a throwaway
 * one-node cluster (see test/helpers/rgw.ts). Skipped when the Ceph packages are not installed
 * (`apt-get install --no-install-recommends radosgw ceph-mon ceph-osd`).
 */
import { describe } from 'vitest';
import { runDriverSuite } from '../../storage-drivers/test-suite.js';
import { freshRgwDriver, rgwAvailable, useRgw } from '../helpers/rgw.js';

describe.skipIf(!rgwAvailable())('RADOS Gateway', () => {
  const rgw = useRgw();
  // S3's smallest part size, so that the suite's 6 to 12 MiB writes cross part boundaries. The
  // driver's own client already asks for checksums only WHEN_REQUIRED (RGW 16 does not know the
  // SDK's default CRC32 trailers).
  runDriverSuite('s3 on RGW', () => freshRgwDriver(rgw(), { partSize: 5 * 1024 * 1024 }));
});
