import { s3Config } from '../helpers/s3-config.js';
import { useS3rver } from '../helpers/s3rver.js';
import { runApiSuite } from './suite.js';

const s3 = useS3rver();
runApiSuite('s3', (overrides) => s3Config(s3(), overrides));
