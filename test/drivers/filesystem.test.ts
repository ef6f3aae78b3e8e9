import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { runDriverSuite } from '../../storage-drivers/test-suite.js';
import { tempDir } from '../helpers/tmp.js';

runDriverSuite('filesystem', async () => tempDir().then(({ path, remove }) => ({ driver: createFilesystemDriver(path), cleanup: remove })));
