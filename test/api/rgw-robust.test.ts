/**
 * Robustness on a real S3 server, Ceph's RADOS Gateway (test/helpers/rgw.ts), sharing one
 * throwaway cluster: the replica suite, `berth fsck` finding and repairing each kind of damage,
 * garbage collection under load, and a load test against two Berth replicas on one bucket.
 * Skipped when the Ceph packages are not installed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkStorage } from '../../src/registry/fsck.js';
import { createStorageDriver } from '../../src/storage.js';
import { makeFsckScenario, problemKey } from '../helpers/fsck-scenario.js';
import { expectGcLoadClean, gcUnderLoad } from '../helpers/gc-load.js';
import { Client } from '../helpers/http.js';
import { expectLoadClean, loadAndCheck } from '../helpers/load-check.js';
import { startServerProcess, writeConfigFile } from '../helpers/process-server.js';
import { rgwConfig } from '../helpers/rgw-config.js';
import { rgwAvailable, useRgw } from '../helpers/rgw.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { runReplicaSuite } from './replicas-suite.js';

describe.skipIf(!rgwAvailable())('robustness on RGW', { timeout: 300_000 }, () => {
  const rgw = useRgw();

  runReplicaSuite('RGW', () => rgwConfig(rgw()));

  it('berth fsck finds every kind of damage on S3 and repairs only garbage', async () => {
    const made = await rgwConfig(rgw());
    const server = await startTestServer(made.config);
    try {
      const driver = server.app.registry.driver;
      const scenario = await makeFsckScenario(new Client(server.url), driver);
      const report = await checkStorage(driver, { graceMs: 0, uploadTtlMs: 3_600_000 });
      expect(report.problems.filter((p) => p.severity === 'error').map(problemKey).sort()).toEqual(scenario.expected);
      const repaired = await checkStorage(driver, { graceMs: 0, uploadTtlMs: 3_600_000, repair: true });
      expect(repaired.problems.filter((p) => p.repaired).map(problemKey).sort()).toEqual(scenario.repairable);
      const after = await checkStorage(driver, { graceMs: 0, uploadTtlMs: 3_600_000 });
      expect(after.problems.filter((p) => p.severity === 'error').map(problemKey).sort()).toEqual(scenario.expected.filter((k) => !scenario.repairable.includes(k)));
    } finally {
      await server.close();
      await made.cleanup();
    }
  });

  it('gc under load loses no acknowledged image and leaves nothing unreferenced', async () => {
    const made = await rgwConfig(rgw());
    const server = await startTestServer(made.config);
    try {
      const result = await gcUnderLoad(server.url, await createStorageDriver(made.config.storage), server.app.registry.driver, { graceMs: 1000 });
      console.log('gc under load (RGW):', JSON.stringify({ ...result, broken: result.broken.length, fsck: result.fsck.length, leftovers: result.leftovers.length }));
      expectGcLoadClean(result);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });

  it('serves a load on two replicas of one bucket without a server error, losing and leaking nothing', async () => {
    const made = await rgwConfig(rgw());
    const dir = await tempDir('berth-rgw-load-');
    const file = await writeConfigFile(made.config, join(dir.path, 'berth.json'));
    const servers = [await startServerProcess(file), await startServerProcess(file)];
    try {
      const figures = await loadAndCheck(servers, await createStorageDriver(made.config.storage));
      console.log('load (RGW, two replicas):', JSON.stringify({ ...figures, failures: figures.failures.slice(0, 5) }));
      expectLoadClean(figures);
      for (const server of servers) expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      for (const server of servers) await server.stop('SIGKILL');
      await dir.remove();
      await made.cleanup();
    }
  });
});
