/**
 * A bounded load test against one Berth process on the filesystem (two replicas on RGW: see
 * test/api/rgw-robust.test.ts): mixed pushes, pulls, tag lists, HEADs and clients dropping their
 * body; then no server error, nothing lost or corrupt, descriptors and memory back.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createStorageDriver } from '../../src/storage.js';
import { expectLoadClean, loadAndCheck } from '../helpers/load-check.js';
import { startServerProcess, writeConfigFile } from '../helpers/process-server.js';
import { filesystemConfig } from '../helpers/server.js';

describe('load', { timeout: 300_000 }, () => {
  it('serves concurrent clients without a server error, losing and leaking nothing (filesystem)', async () => {
    const made = await filesystemConfig();
    const configFile = await writeConfigFile(made.config, `${made.config.storage.filesystem.root}.json`);
    const server = await startServerProcess(configFile);
    try {
      const figures = await loadAndCheck([server], await createStorageDriver(made.config.storage));
      console.log('load (filesystem, one server):', JSON.stringify({ ...figures, failures: figures.failures.slice(0, 5) }));
      expectLoadClean(figures);
      expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      await server.stop('SIGKILL');
      await rm(configFile, { force: true });
      await made.cleanup();
    }
  });
});
