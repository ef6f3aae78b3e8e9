import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { runDriverSuite } from '../../storage-drivers/test-suite.js';

runDriverSuite('memory', async () => ({ driver: createMemoryDriver(), cleanup: async () => {} }));
