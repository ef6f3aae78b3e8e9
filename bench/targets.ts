/**
 * The servers under test, each started fresh by the bench on 127.0.0.1: Berth as a separate
 * `node dist/src/cli.js serve` process with its own temp data dir, CNCF Distribution from apt's
 * `docker-registry` with its own, and two that read Berth's data dir: Berth with 2 workers (a
 * second deployment on the same storage, as replicas share it) and the bare-Node "ceiling"
 * (bench/ceiling.ts). All log at warn; their output goes to a log file the report summarises.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, readMemory, stopChild, trackChild, untrackPath, waitReady } from './proc.js';

export type TargetName = 'berth' | 'berth2' | 'distribution' | 'ceiling' | 'berthAuth';

export const LABELS: Record<TargetName, string> = {
  berth: 'Berth',
  berth2: 'Berth 2 workers',
  distribution: 'Distribution',
  ceiling: 'Node ceiling',
  berthAuth: 'Berth, token auth',
};

/**
 * What a target takes part in: `registry` everything (pushes too); `workers` the small-request
 * and concurrent-pull scenarios; `ceiling` the reads (small requests and pulls) of what Berth stored.
 */
export type TargetRole = 'registry' | 'workers' | 'ceiling';

export interface Target {
  name: TargetName;
  label: string;
  role: TargetRole;
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
  role: TargetRole;
  version: string;
  dir: string;
  port: number;
  command: string;
  args: string[];
}

async function launch({ name, role, version, dir, port, command, args }: Launch): Promise<Target> {
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
    role,
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

export interface BerthOptions {
  /** The CLI to run (default: this checkout's build); another build to compare against. */
  cli?: string;
  name?: TargetName;
  role?: TargetRole;
  workers?: number;
  /** Serve this data dir (another Berth's: a second deployment on the same storage). */
  dataDir?: string;
  /** Extra config lines (auth). */
  extraConfig?: string[];
  /** Folder name under the bench root (default: the target name). */
  folder?: string;
}

export async function startBerth(root: string, options: BerthOptions = {}): Promise<Target> {
  const name = options.name ?? 'berth';
  const dir = join(root, options.folder ?? name);
  const data = options.dataDir ?? join(dir, 'data');
  await mkdir(dir, { recursive: true });
  await mkdir(data, { recursive: true });
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    ['storage:', '  driver: filesystem', `  filesystem: { root: ${JSON.stringify(data)} }`, 'log: { level: warn }', ...(options.extraConfig ?? []), ''].join('\n'),
  );
  // The port is chosen here; `launch` still prefers the address from a `listening` line.
  const port = await freePort();
  const workers = options.workers ?? 1;
  return launch({
    name,
    role: options.role ?? 'registry',
    version: `berth ${options.cli ? options.cli : berthVersion()} on node ${process.version}${workers > 1 ? `, ${workers} workers` : ''}`,
    dir,
    port,
    command: process.execPath,
    args: [options.cli ?? BERTH_CLI, 'serve', '--config', config, '--listen', `127.0.0.1:${port}`, ...(workers > 1 ? ['--workers', String(workers)] : [])],
  });
}

/** The bare-Node ceiling (bench/ceiling.ts) over Berth's data dir. */
export async function startCeiling(root: string, berthData: string): Promise<Target> {
  const dir = join(root, 'ceiling');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  return launch({
    name: 'ceiling',
    role: 'ceiling',
    version: `bare node:http on node ${process.version}`,
    dir,
    port,
    command: process.execPath,
    args: [join(PROJECT_ROOT, 'dist/bench/ceiling.js'), '--root', berthData, '--listen', `127.0.0.1:${port}`],
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
    role: 'registry',
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

