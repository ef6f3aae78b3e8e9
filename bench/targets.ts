/**
 * The registries under test, each started fresh by the bench on 127.0.0.1 with its own temp data
 * dir: Berth as a separate `node dist/src/cli.js serve` process, and CNCF Distribution from apt's
 * `docker-registry`. Both log at warn; their output goes to a log file that the report summarises.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, readMemory, stopChild, trackChild, untrackPath, waitReady } from './proc.js';

export type TargetName = 'berth' | 'distribution';

export const LABELS: Record<TargetName, string> = { berth: 'Berth', distribution: 'Distribution' };

export interface Target {
  name: TargetName;
  label: string;
  version: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid: number;
  dir: string;
  logFile: string;
  /** Resident MiB right after start-up. */
  idleMiB: number;
  /** Undefined while running; how it ended once it has exited. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

/** dist/bench/targets.js -> the project root. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BERTH_CLI = join(PROJECT_ROOT, 'dist/src/cli.js');

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

interface Launch {
  name: TargetName;
  version: string;
  dir: string;
  port: number;
  command: string;
  args: string[];
}

async function launch({ name, version, dir, port, command, args }: Launch): Promise<Target> {
  const logFile = join(dir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let url = `http://127.0.0.1:${port}`;
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    // Use the address the server reports in its `listening` line, when it logs one.
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const reported = /"msg":"listening"/.test(line) ? /"url":"([^"]+)"/.exec(line)?.[1] : undefined;
      if (reported) url = reported;
    }
  });
  child.stderr!.pipe(log, { end: false });
  const spawned = new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', fail);
  });
  await spawned;
  const describe = (): string => `${command} ${args.join(' ')}\n${tail(logFile)}`;
  try {
    await waitReady(`${url}/v2/`, child, describe);
  } catch (err) {
    await stopChild(child, 1000);
    throw new Error(`${LABELS[name]}: ${(err as Error).message}`);
  }
  const pid = child.pid!;
  return {
    name,
    label: LABELS[name],
    version,
    url,
    port: Number(new URL(url).port),
    pid,
    dir,
    logFile,
    idleMiB: (readMemory(pid)?.rss ?? NaN) / 1024,
    exited: () => (child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}` : undefined),
    async stop() {
      await stopChild(child);
      log.end();
    },
  };
}

function berthVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function startBerth(root: string): Promise<Target> {
  const dir = join(root, 'berth');
  await mkdir(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'config.yaml');
  await writeFile(config, ['storage:', '  driver: filesystem', `  filesystem: { root: ${JSON.stringify(join(dir, 'data'))} }`, 'log: { level: warn }', ''].join('\n'));
  // At `warn` Berth does not print its (info-level) `listening` line, so the port is chosen
  // here; `launch` still prefers the address from a `listening` line if one appears.
  const port = await freePort();
  return launch({
    name: 'berth',
    version: `berth ${berthVersion()} on node ${process.version}`,
    dir,
    port,
    command: process.execPath,
    args: [BERTH_CLI, 'serve', '--config', config, '--listen', `127.0.0.1:${port}`],
  });
}

export function distributionVersion(): string | undefined {
  const result = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export async function startDistribution(root: string): Promise<Target> {
  const dir = join(root, 'distribution');
  await mkdir(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const config = join(dir, 'config.yml');
  // As Debian's /etc/docker/registry/config.yml (in-memory blob descriptor cache), minus auth and
  // the background jobs (health checks, upload purging) Berth does not run either.
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: { level: warn, formatter: json, accesslog: { disabled: true } }',
      'storage:',
      `  filesystem: { rootdirectory: ${JSON.stringify(join(dir, 'data'))} }`,
      '  delete: { enabled: true }',
      '  cache: { blobdescriptor: inmemory }',
      '  maintenance: { uploadpurging: { enabled: false } }',
      `http: { addr: "127.0.0.1:${port}", secret: berth-bench-not-a-secret }`,
      'health: { storagedriver: { enabled: false } }',
      '',
    ].join('\n'),
  );
  return launch({
    name: 'distribution',
    version: distributionVersion() ?? 'unknown',
    dir,
    port,
    command: 'docker-registry',
    args: ['serve', config],
  });
}

/** Stops the targets and removes the bench's temp root. */
export async function stopAll(targets: Target[], root: string): Promise<void> {
  await Promise.allSettled(targets.map((t) => t.stop()));
  await rm(root, { recursive: true, force: true });
  untrackPath(root);
}

