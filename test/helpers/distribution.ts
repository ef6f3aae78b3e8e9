/**
 * CNCF Distribution (Debian's `docker-registry`) on loopback, as an upstream for pull-through
 * cache tests: filesystem storage in a temp folder, no auth. `stop()` kills it (the upstream
 * going away), `start()` brings it back on the same port and storage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

export interface Distribution {
  /** `127.0.0.1:PORT`. */
  host: string;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it and removes its storage. */
  remove(): Promise<void>;
}

export async function startDistribution(): Promise<Distribution> {
  const dir = await tempDir('berth-distribution-');
  const port = await freePort();
  const config = join(dir.path, 'config.yml');
  await mkdir(join(dir.path, 'data'));
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      'storage:',
      `  filesystem: { rootdirectory: ${JSON.stringify(join(dir.path, 'data'))} }`,
      '  delete: { enabled: true }',
      `http: { addr: "127.0.0.1:${port}", secret: berth-test-not-a-secret }`,
      'health: { storagedriver: { enabled: false } }',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;
  const registry: Distribution = {
    host: `127.0.0.1:${port}`,
    url,
    async start() {
      child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
      for (let i = 0; i < 200; i++) {
        if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
        const ready = await fetch(`${url}/v2/`).then(
          (res) => res.status === 200,
          () => false,
        );
        if (ready) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('docker-registry did not start');
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    async remove() {
      await registry.stop();
      await dir.remove();
    },
  };
  await registry.start();
  return registry;
}
