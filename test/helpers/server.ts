/** Starts a real Berth server on 127.0.0.1 and an ephemeral port, for API and e2e tests. */
import { Writable } from 'node:stream';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { tempDir } from './tmp.js';

export interface TestServer extends RunningServer {
  /** `127.0.0.1:PORT`, as clients name the registry. */
  host: string;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
}

/** Collects pino's JSON lines in memory. */
function logSink(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
}

export async function startTestServer(config: Config, driver?: StorageDriver): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger('debug', logSink(logs));
  const running = await startServer({ ...config, listen: '127.0.0.1:0' }, log, driver);
  return Object.assign(running, { host: `127.0.0.1:${running.port}`, logs });
}

/** A config for a filesystem registry in a fresh temp folder, with optional overrides. */
export async function filesystemConfig(
  overrides: (config: Config) => void = () => {},
): Promise<{ config: Config; cleanup: () => Promise<void> }> {
  const dir = await tempDir();
  const config = loadConfig({ env: {} });
  config.listen = '127.0.0.1:0';
  config.storage = { ...config.storage, driver: 'filesystem', filesystem: { root: dir.path } };
  overrides(config);
  return { config, cleanup: dir.remove };
}
