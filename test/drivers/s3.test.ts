import { runDriverSuite } from '../../storage-drivers/test-suite.js';
import { freshS3Driver, useS3rver } from '../helpers/s3rver.js';

const s3 = useS3rver();
// S3's smallest part size, so that the suite's 6 to 12 MiB writes cross part boundaries, and
// listings in pages of 10 keys, so that the larger lists and deletes go through paging.
runDriverSuite('s3', () => freshS3Driver(Object.assign(s3(), { maxKeys: 10 }), { partSize: 5 * 1024 * 1024 }));
