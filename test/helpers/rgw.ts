/**
 * A real, production S3 server for tests: Ceph's RADOS Gateway (radosgw) on a throwaway one-node
 * Ceph cluster (one monitor, one OSD, one gateway), started by the test file itself.
 *
 * Everything lives in one temp folder (config, run dir, admin sockets, pid files, logs, crash dumps,
 * monitor and OSD data); nothing touches /etc/ceph or /var/lib/ceph. Auth is off (`auth ... = none`)
 * and the messenger uses crc mode, so no keyrings are needed. The OSD keeps objects in RAM
 * (memstore) by default: start-up takes 3 to 7 s and the three daemons use about 125 MiB, plus
 * about the bytes stored (deleted data is freed within seconds); `objectStore: 'bluestore'` puts them in a sparse file in the temp folder instead.
 *
 * Needs `apt-get install --no-install-recommends radosgw ceph-mon ceph-osd` (Ceph 16, Debian 12);
 * `rgwAvailable()` tells whether the programs are there.
 *
 * Clean-up: `stop()` ends the daemons (TERM, then KILL) and removes the folder. Should the test
 * process die without running it, a small detached watchdog (`sh`) notices within a second, kills
 * the daemons it started and removes the folder; a normal process exit kills them synchronously.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { createS3Driver, type S3DriverOptions } from '../../storage-drivers/s3.js';
import type { DriverUnderTest } from '../../storage-drivers/test-suite.js';
import { tempDir } from './tmp.js';

const MiB = 1024 * 1024;
const PROGRAMS = ['monmaptool', 'ceph-mon', 'ceph-osd', 'ceph', 'radosgw-admin', 'radosgw'] as const;

export interface RgwOptions {
  /** `memstore` (objects in the OSD's RAM, default) or `bluestore` (a sparse file in the temp folder). */
  objectStore?: 'memstore' | 'bluestore';
  /** The OSD's capacity in bytes (memstore: the most it reports; bluestore: the file size). Default 1 GiB. */
  capacity?: number;
  /** The bucket made at start. Default: `berth-<random>`. */
  bucket?: string;
  /** Region used for signing (RGW accepts any). Default `us-east-1`. */
  region?: string;
  /** The whole start-up must finish within this many ms. Default 90 s. */
  startTimeout?: number;
  /** Extra or changed Ceph settings, e.g. `{ 'debug rgw': '20' }` (into the section that has the key, else `[global]`). */
  settings?: Record<string, string>;
}

export interface RgwDaemonMemory {
  mon: number;
  osd: number;
  rgw: number;
  total: number;
}

export interface RgwHandle {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  /** The bucket made at start. */
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The temp folder holding everything. */
  dir: string;
  /** How long `startRgw` took, in ms. */
  startupMs: number;
  /** When each start-up step ended, in ms since the start. */
  timings: Record<string, number>;
  /** Options for a driver on this gateway's bucket (path-style, this user's keys). */
  driverOptions(overrides?: Partial<S3DriverOptions>): S3DriverOptions;
  /** An SDK client for the gateway, configured as the driver configures its own. */
  client(config?: Partial<S3ClientConfig>): S3Client;
  createBucket(name?: string): Promise<string>;
  /** All keys under `prefix`. */
  keys(prefix: string, bucket?: string): Promise<string[]>;
  /** Keys of multipart uploads neither completed nor aborted, under `prefix` (ListMultipartUploads). */
  pendingUploads(prefix: string, bucket?: string): Promise<string[]>;
  /** Deletes every key under `prefix` and aborts the multipart uploads there. */
  deletePrefix(prefix: string, bucket?: string): Promise<void>;
  /** Stops radosgw only (TERM then KILL; `SIGKILL` kills at once, like a crash). */
  stopGateway(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts radosgw again on the same port and waits until S3 answers. */
  startGateway(): Promise<void>;
  /** Whether radosgw is running (started and not exited). */
  gatewayRunning(): boolean;
  /** Resident memory of each daemon now, in bytes (from /proc). */
  memory(): Promise<RgwDaemonMemory>;
  /** The last lines of a daemon's log (`mon`, `osd`, `rgw`, `admin`). */
  logTail(daemon: 'mon' | 'osd' | 'rgw' | 'admin', lines?: number): string;
  /** Ends every daemon (TERM, then KILL) and removes the temp folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** Whether the Ceph programs this helper runs are installed. */
export function rgwAvailable(): boolean {
  return PROGRAMS.every((program) => which(program) !== undefined);
}

function which(program: string): string | undefined {
  for (const folder of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(folder, program);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Ports the kernel hands out for outgoing connections and port 0; Ceph's own ports must lie outside. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

/** `count` distinct free ports on 127.0.0.1 (held open together, so they differ, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      ports.push((server.address() as { port: number }).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** The range the OSD binds its ports in: Ceph's default, unless that overlaps the ephemeral range. */
function osdPortRange(): [number, number] {
  const [low, high] = ephemeralRange();
  const overlaps = (a: number, b: number): boolean => a <= high && b >= low;
  if (!overlaps(6800, 7300)) return [6800, 7300];
  if (low > 2100) return [low - 1100, low - 100];
  if (high < 64000) return [high + 100, high + 1100];
  throw new Error(`rgw: no port range outside the ephemeral range ${low}-${high} for the OSD`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `lines` lines of a file, or a note that it is missing. */
function tail(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return `(no ${path})`;
  }
}

/** One request on a Ceph admin socket: the JSON command and a NUL out; a 32-bit length and the answer back. */
function adminSocket(path: string, prefix: string, timeoutMs = 2000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`admin socket ${path}: no answer in ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(`${JSON.stringify({ prefix, format: 'json' })}\0`));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (all.length < 4) return;
      const length = all.readUInt32BE(0);
      if (all.length < 4 + length) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(all.subarray(4, 4 + length).toString('utf8')) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`admin socket ${path} closed early`));
    });
  });
}

interface Daemon {
  name: 'mon' | 'osd' | 'rgw';
  child: ChildProcess;
  exited: Promise<void>;
  /** Set when the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/** Every cluster of this process that is not stopped yet, for the exit hook. */
const live = new Set<{ dir: string; pids: () => number[] }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cluster of live) {
      for (const pid of cluster.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      try {
        rmSync(cluster.dir, { recursive: true, force: true });
      } catch {
        // a daemon still writing; the watchdog tries again
      }
    }
  });
}

/**
 * Kills the cluster's daemons and removes its folder once `parent` is gone. A daemon is killed
 * only while its command line still names this cluster's config (so a reused pid is left alone).
 */
const WATCHDOG = `
parent=$1; dir=$2
while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
for f in "$dir"/pids/*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if grep -qaF -- "$dir/ceph.conf" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
done
sleep 1
rm -rf "$dir"
`;

function cephConf(o: {
  dir: string;
  fsid: string;
  monV2: number;
  monV1: number;
  s3Port: number;
  bindMin: number;
  bindMax: number;
  objectStore: 'memstore' | 'bluestore';
  capacity: number;
  settings: Record<string, string>;
}): string {
  const d = o.dir;
  const global: Record<string, string> = {
    fsid: o.fsid,
    'mon host': `[v2:127.0.0.1:${o.monV2},v1:127.0.0.1:${o.monV1}]`,
    'mon initial members': 'a',
    'public addr': '127.0.0.1',
    'ms bind ipv6': 'false',
    // the OSD's ports: never the monitor's or the gateway's (both come from the ephemeral range)
    'ms bind port min': String(o.bindMin),
    'ms bind port max': String(o.bindMax),
    // no cephx: no keys, and every connection in crc mode (radosgw otherwise asks for secure mode)
    'auth cluster required': 'none',
    'auth service required': 'none',
    'auth client required': 'none',
    'ms mon client mode': 'crc',
    'ms client mode': 'crc',
    'ms mon cluster mode': 'crc',
    'ms mon service mode': 'crc',
    'ms cluster mode': 'crc',
    'ms service mode': 'crc',
    // every file inside the temp folder
    'run dir': `${d}/run`,
    'admin socket': `${d}/run/$name.asok`,
    'pid file': `${d}/run/$name.pid`,
    'log file': `${d}/log/$name.log`,
    'crash dir': `${d}/crash`,
    'tmp dir': `${d}/tmp`,
    keyring: `${d}/keyring`,
    'mon data': `${d}/mon/$cluster-$id`,
    'osd data': `${d}/osd/$cluster-$id`,
    'rgw data': `${d}/rgw/$cluster-$id`,
    'exporter sock dir': `${d}/run`,
    'log to stderr': 'false',
    'err to stderr': 'true',
    'log max recent': '500',
    // one OSD: one replica, few placement groups, no warnings about either
    'osd pool default size': '1',
    'osd pool default min size': '1',
    'osd pool default pg num': '4',
    'osd pool default pgp num': '4',
    'osd pool default pg autoscale mode': 'off',
    'osd crush chooseleaf type': '0',
    'mon allow pool size one': 'true',
    'mon warn on pool no redundancy': 'false',
    'mon max pg per osd': '1000',
    // a busy CI disk must not stop the monitor (it refuses to run below 5% free by default)
    'mon data avail crit': '0',
    'mon data avail warn': '0',
    // quicker start-up and shutdown
    'paxos propose interval': '0.1',
    'osd fast shutdown': 'true',
    'osd fast shutdown notify mon': 'false',
    'osd op num shards': '2',
    'osd op num threads per shard': '1',
  };
  const osd: Record<string, string> =
    o.objectStore === 'memstore'
      ? { 'osd objectstore': 'memstore', 'memstore device bytes': String(o.capacity) }
      : {
          'osd objectstore': 'bluestore',
          'bluestore block create': 'true',
          'bluestore block size': String(o.capacity),
          'bluestore block db create': 'false',
          'bluestore block wal create': 'false',
          'bluestore cache size': String(64 * MiB),
          'bluestore fsck on mount': 'false',
          'osd memory target': String(512 * MiB),
        };
  const client: Record<string, string> = {
    'rgw frontends': `beast endpoint=127.0.0.1:${o.s3Port} tcp_nodelay=1`,
    'rgw enable apis': 's3',
    'rgw thread pool size': '64',
    // deleted data (the tails of large objects) is freed in seconds, not hours: memory stays bounded
    'rgw gc obj min wait': '5',
    'rgw gc processor period': '5',
    'rgw gc max objs': '4',
    'rgw lc max objs': '4',
    'rgw enable lc threads': 'false',
    'rgw enable quota threads': 'false',
    'rgw dynamic resharding': 'false',
  };
  for (const [key, value] of Object.entries(o.settings)) {
    if (key in osd) osd[key] = value;
    else if (key in client) client[key] = value;
    else global[key] = value;
  }
  const section = (name: string, values: Record<string, string>): string =>
    `[${name}]\n${Object.entries(values)
      .map(([key, value]) => `${key} = ${value}`)
      .join('\n')}\n`;
  return `${section('global', global)}\n${section('osd', osd)}\n${section('client', client)}`;
}

class StartError extends Error {
  /** A daemon could not bind its port (EADDRINUSE). */
  get portTaken(): boolean {
    return /Address already in use|\(98\)|exited \(code 98\b/.test(this.message);
  }
}

/** Sends one monitor command (argv: config file, JSON command) and prints its answer. */
const MON_COMMAND = `
import json, sys, rados
cluster = rados.Rados(conffile=sys.argv[1])
cluster.connect(timeout=20)
ret, out, err = cluster.mon_command(sys.argv[2], b'', timeout=20)
if ret != 0:
    sys.exit('mon command failed (%d): %s' % (ret, err))
sys.stdout.write(out.decode())
`;

/** The Python that the \`ceph\` CLI runs with (it has the \`rados\` module); not a pyenv shim. */
function cephPython(): string {
  try {
    const first = readFileSync(which('ceph') ?? '/usr/bin/ceph', 'utf8').split('\n', 1)[0] ?? '';
    const interpreter = /^#!\s*(\S+)/.exec(first)?.[1];
    if (interpreter && !interpreter.endsWith('/env')) return interpreter;
  } catch {
    // fall through
  }
  return '/usr/bin/python3';
}

/** Starts a one-node Ceph cluster with a gateway and a bucket; resolves when S3 answers. */
export async function startRgw(options: RgwOptions = {}): Promise<RgwHandle> {
  try {
    return await startOnce(options);
  } catch (err) {
    // Another process may take a port between our probe and the daemon's bind: try once more.
    if (err instanceof StartError && err.portTaken) return startOnce(options);
    throw err;
  }
}

async function startOnce(options: RgwOptions): Promise<RgwHandle> {
  if (!rgwAvailable()) {
    const missing = PROGRAMS.filter((program) => !which(program));
    throw new Error(`rgw: ${missing.join(', ')} not found; apt-get install --no-install-recommends radosgw ceph-mon ceph-osd`);
  }
  const started = Date.now();
  const deadline = started + (options.startTimeout ?? 90_000);
  const region = options.region ?? 'us-east-1';
  const accessKeyId = `BERTH${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const [bindMin, bindMax] = osdPortRange();
  const [monV2, monV1, s3Port] = (await freePorts(3)) as [number, number, number];
  for (const port of [monV2, monV1, s3Port]) {
    if (port >= bindMin && port <= bindMax) throw new Error(`rgw: port ${port} lies inside the OSD's range ${bindMin}-${bindMax}`);
  }
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const folder = await tempDir('berth-rgw-');
  const dir = folder.path;
  const conf = join(dir, 'ceph.conf');
  if (join(dir, 'run', 'client.rgw.a.asok').length > 100) {
    await folder.remove();
    throw new Error(`rgw: the temp folder ${dir} is too long a path for Ceph's admin sockets (Unix sockets: 107 bytes); set TMPDIR shorter`);
  }
  const daemons: Partial<Record<Daemon['name'], Daemon>> = {};
  const logs = {
    mon: [join(dir, 'log', 'mon.a.log'), join(dir, 'log', 'mon.out')],
    osd: [join(dir, 'log', 'osd.0.log'), join(dir, 'log', 'osd.out')],
    rgw: [join(dir, 'log', 'client.rgw.a.log'), join(dir, 'log', 'rgw.out')],
    admin: [join(dir, 'log', 'client.admin.log')],
  };
  const logTail = (daemon: keyof typeof logs, lines = 30): string =>
    logs[daemon].map((path) => `--- ${path}\n${tail(path, lines)}`).join('\n');
  let watchdog: ChildProcess | undefined;
  let stopped = false;
  const timings: Record<string, number> = {};
  const mark = (step: string): void => {
    timings[step] = Date.now() - started;
  };
  const cluster = { dir, pids: () => Object.values(daemons).flatMap((d) => (d && !d.exit && d.child.pid ? [d.child.pid] : [])) };


  function spawnDaemon(name: Daemon['name'], program: string, args: string[]): Daemon {
    const out = openSync(join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(program, args, { cwd: dir, stdio: ['ignore', out, out] });
    closeSync(out);
    const daemon: Daemon = {
      name,
      child,
      exited: new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          daemon.exit = { code, signal };
          resolve();
        });
        child.once('error', (err) => {
          daemon.exit = { code: null, signal: null };
          writeFileSync(join(dir, 'log', `${name}.out`), `spawn failed: ${err.message}\n`, { flag: 'a' });
          resolve();
        });
      }),
    };
    daemons[name] = daemon;
    if (child.pid) writeFileSync(join(dir, 'pids', name), String(child.pid));
    return daemon;
  }

  function fail(step: string, daemon: keyof typeof logs, detail = ''): never {
    throw new StartError(`rgw start-up: ${step}${detail ? `: ${detail}` : ''}\n${logTail(daemon)}`);
  }

  /** Polls `check` until it is true; fails when the deadline passes or the daemon exits. */
  async function waitFor(step: string, daemon: Daemon | undefined, logName: keyof typeof logs, check: () => Promise<boolean>, timeoutMs?: number): Promise<void> {
    const until = Math.min(deadline, timeoutMs ? Date.now() + timeoutMs : deadline);
    let lastError = '';
    for (let delay = 20; ; delay = Math.min(delay * 1.5, 250)) {
      if (daemon?.exit) {
        const { code, signal } = daemon.exit;
        fail(step, logName, `${daemon.name} exited (code ${code}, signal ${signal})${code === 98 ? ': its port is taken (EADDRINUSE)' : ''}`);
      }
      try {
        if (await check()) return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > until) fail(step, logName, `not done after ${Math.round((Date.now() - started) / 1000)} s${lastError ? ` (last error: ${lastError})` : ''}`);
      await sleep(delay);
    }
  }

  /** Runs a Ceph tool to completion within the deadline; its output, or a failure with logs. */
  function run(step: string, logName: keyof typeof logs, program: string, args: string[]): Promise<string> {
    const timeout = Math.max(1000, deadline - Date.now());
    return new Promise((resolve, reject) => {
      execFile(program, args, { cwd: dir, timeout, killSignal: 'SIGKILL', maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const why = err.killed ? `timed out after ${timeout} ms` : `exit ${err.code ?? err.signal}`;
        try {
          fail(step, logName, `${program} ${args.join(' ')}: ${why}\n${stderr.trim()}`);
        } catch (failure) {
          reject(failure);
        }
      });
    });
  }

  async function stopDaemon(daemon: Daemon | undefined, signal: 'SIGTERM' | 'SIGKILL', graceMs = 3000): Promise<void> {
    if (!daemon || daemon.exit) return;
    daemon.child.kill(signal);
    if (signal === 'SIGTERM') {
      const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
      if ((await Promise.race([daemon.exited, timer])) === 'late') daemon.child.kill('SIGKILL');
    }
    await daemon.exited;
  }

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    // The gateway first: it says goodbye to the OSD and monitor, and hangs when they are gone already.
    await stopDaemon(daemons.rgw, 'SIGTERM');
    await Promise.all([stopDaemon(daemons.osd, 'SIGTERM'), stopDaemon(daemons.mon, 'SIGTERM')]);
    live.delete(cluster);
    if (watchdog && watchdog.exitCode === null) watchdog.kill('SIGKILL');
    await folder.remove();
  }

  live.add(cluster);
  installExitHook();

  const s3Ready = async (): Promise<boolean> => {
    const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  };

  async function startGateway(): Promise<void> {
    if (daemons.rgw && !daemons.rgw.exit) throw new Error('rgw: the gateway is already running');
    const rgw = spawnDaemon('rgw', 'radosgw', ['-c', conf, '-n', 'client.rgw.a', '-f']);
    const until = Math.max(deadline, Date.now() + 60_000);
    await waitFor('radosgw answering S3', rgw, 'rgw', s3Ready, until - Date.now());
  }

  try {
    for (const sub of ['run', 'log', 'crash', 'tmp', 'mon', 'osd/ceph-0', 'rgw', 'pids']) await mkdir(join(dir, sub), { recursive: true });
    watchdog = spawn('sh', ['-c', WATCHDOG, 'rgw-watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' });
    watchdog.unref();
    const fsid = randomUUID();
    const osdUuid = randomUUID();
    await writeFile(
      conf,
      cephConf({
        dir,
        fsid,
        monV2,
        monV1,
        s3Port,
        bindMin,
        bindMax,
        objectStore: options.objectStore ?? 'memstore',
        capacity: options.capacity ?? 1024 * MiB,
        settings: options.settings ?? {},
      }),
    );
    // The monitor's map, then its store; the OSD's store needs only the fsid, so it is made meanwhile.
    await run('monmaptool', 'mon', 'monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`, join(dir, 'monmap')]);
    await Promise.all([
      run('ceph-mon --mkfs', 'mon', 'ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]),
      run('ceph-osd --mkfs', 'osd', 'ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid, '--no-mon-config']),
    ]);
    const monSocket = join(dir, 'run', 'mon.a.asok');
    const mon = spawnDaemon('mon', 'ceph-mon', ['-c', conf, '-i', 'a', '-f']);
    await waitFor('ceph-mon in quorum', mon, 'mon', async () => (await adminSocket(monSocket, 'mon_status')).state === 'leader');
    mark('mon');
    // The OSD's id is 0 in a fresh cluster; `osd new` registers it with the uuid it was made with.
    // (`ceph osd new` does the same, but the CLI takes over a second to load; its library does not.)
    const id = (await run('osd new', 'mon', cephPython(), ['-c', MON_COMMAND, conf, JSON.stringify({ prefix: 'osd new', uuid: osdUuid, id: 0 })])).trim();
    if (id !== '0') fail('osd new', 'mon', `expected id 0, got ${JSON.stringify(id)}`);
    mark('osd new');
    const osdSocket = join(dir, 'run', 'osd.0.asok');
    const osd = spawnDaemon('osd', 'ceph-osd', ['-c', conf, '-i', '0', '-f']);
    await waitFor('ceph-osd active', osd, 'osd', async () => (await adminSocket(osdSocket, 'status')).state === 'active');
    mark('osd');
    // Creates the gateway's pools too; the gateway then starts against them.
    await run('radosgw-admin user create', 'admin', 'radosgw-admin', [
      '-c',
      conf,
      'user',
      'create',
      '--uid=berth',
      '--display-name=berth',
      `--access-key=${accessKeyId}`,
      `--secret-key=${secretAccessKey}`,
    ]);
    mark('user');
    await startGateway();
    mark('rgw');
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }

  const client = (config: Partial<S3ClientConfig> = {}): S3Client =>
    new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...config,
    });
  const admin = client();

  const createBucket = async (name = `berth-${randomBytes(6).toString('hex')}`): Promise<string> => {
    await admin.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  };

  let bucket: string;
  try {
    bucket = await createBucket(options.bucket);
  } catch (err) {
    admin.destroy();
    const message = `rgw start-up: CreateBucket failed: ${err instanceof Error ? err.message : String(err)}\n${logTail('rgw')}`;
    await stop().catch(() => {});
    throw new StartError(message);
  }

  const keys = async (prefix: string, inBucket = bucket): Promise<string[]> => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await admin.send(new ListObjectsV2Command({ Bucket: inBucket, Prefix: prefix, ContinuationToken: token }));
      for (const { Key } of page.Contents ?? []) if (Key) found.push(Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found.sort();
  };

  const uploads = async (prefix: string, inBucket: string): Promise<Array<{ Key: string; UploadId: string }>> => {
    const found: Array<{ Key: string; UploadId: string }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await admin.send(
        new ListMultipartUploadsCommand({ Bucket: inBucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const { Key, UploadId } of page.Uploads ?? []) if (Key && UploadId) found.push({ Key, UploadId });
      if (!page.IsTruncated) return found;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  };

  const handle: RgwHandle = {
    endpoint,
    region,
    bucket,
    accessKeyId,
    secretAccessKey,
    dir,
    startupMs: Date.now() - started,
    timings,
    driverOptions: (overrides = {}) => ({ bucket, region, endpoint, forcePathStyle: true, accessKeyId, secretAccessKey, ...overrides }),
    client,
    createBucket,
    keys,
    async pendingUploads(prefix, inBucket = bucket) {
      return (await uploads(prefix, inBucket)).map(({ Key }) => Key).sort();
    },
    async deletePrefix(prefix, inBucket = bucket) {
      for (const { Key, UploadId } of await uploads(prefix, inBucket)) {
        await admin.send(new AbortMultipartUploadCommand({ Bucket: inBucket, Key, UploadId })).catch(() => {});
      }
      const found = await keys(prefix, inBucket);
      for (let i = 0; i < found.length; i += 1000) {
        const batch = found.slice(i, i + 1000).map((Key) => ({ Key }));
        const out = await admin.send(new DeleteObjectsCommand({ Bucket: inBucket, Delete: { Objects: batch, Quiet: true } }));
        if (out.Errors?.length) throw new Error(`rgw: could not delete ${out.Errors.length} keys under ${prefix}, first ${out.Errors[0]?.Key}`);
      }
    },
    async stopGateway(signal = 'SIGTERM') {
      await stopDaemon(daemons.rgw, signal);
    },
    startGateway,
    gatewayRunning: () => Boolean(daemons.rgw && !daemons.rgw.exit),
    async memory() {
      const rss = async (daemon: Daemon | undefined): Promise<number> => {
        if (!daemon?.child.pid || daemon.exit) return 0;
        const status = await readFile(`/proc/${daemon.child.pid}/status`, 'utf8').catch(() => '');
        const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
        return kib ? Number(kib) * 1024 : 0;
      };
      const [mon, osd, rgw] = await Promise.all([rss(daemons.mon), rss(daemons.osd), rss(daemons.rgw)]);
      return { mon, osd, rgw, total: mon + osd + rgw };
    },
    logTail,
    async stop() {
      admin.destroy();
      await stop();
    },
  };
  return handle;
}

/**
 * Starts one RGW for the calling test file (beforeAll) and stops it after (afterAll), whatever
 * the tests did. Returns a getter for the handle.
 */
export function useRgw(options: RgwOptions = {}): () => RgwHandle {
  let handle: RgwHandle | undefined;
  const startTimeout = options.startTimeout ?? 90_000;
  beforeAll(async () => {
    handle = await startRgw({ ...options, startTimeout });
    if (process.env.RGW_REPORT) {
      const memory = await handle.memory();
      const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
      console.log(
        `rgw: ready in ${handle.startupMs} ms; RSS mon ${mib(memory.mon)}, osd ${mib(memory.osd)}, radosgw ${mib(memory.rgw)}, total ${mib(memory.total)}`,
      );
    }
  }, startTimeout + 15_000);
  afterAll(async () => {
    if (handle && process.env.RGW_REPORT) {
      const memory = await handle.memory();
      console.log(`rgw: RSS at the end: total ${(memory.total / MiB).toFixed(0)} MiB (osd ${(memory.osd / MiB).toFixed(0)} MiB)`);
    }
    await handle?.stop();
  }, 30_000);
  return () => {
    if (!handle) throw new Error('rgw is not running (useRgw() must be called at the top of a test file, and start-up must have worked)');
    return handle;
  };
}

let prefixes = 0;

/**
 * A driver on a fresh key prefix of the gateway's bucket. Its cleanup fails the test when writer
 * state or an unfinished multipart upload was left behind, then deletes the prefix.
 */
export async function freshRgwDriver(
  rgw: RgwHandle,
  overrides: Partial<S3DriverOptions> = {},
): Promise<DriverUnderTest & { prefix: string; options: S3DriverOptions }> {
  const prefix = `t${++prefixes}-${randomBytes(4).toString('hex')}/`;
  const options = rgw.driverOptions({ prefix, ...overrides });
  const driver = createS3Driver(options);
  return {
    driver,
    prefix,
    options,
    cleanup: async () => {
      const leftovers = [...(await rgw.keys(`${prefix}~writers/`)), ...(await rgw.pendingUploads(prefix)).map((key) => `upload of ${key}`)];
      await rgw.deletePrefix(prefix);
      if (leftovers.length > 0) throw new Error(`the s3 driver did not clean up properly on RGW: ${leftovers.join(', ')}`);
    },
  };
}
