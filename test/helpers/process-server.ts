/**
 * Berth as its own process (`node dist/src/cli.js serve`), as users run it: for tests that send it
 * signals, restart it, or measure it from outside (resident memory and open file descriptors from
 * /proc). Needs `npm run build` first. Stopped (KILL) at the end of the test file whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import type { Config } from '../../src/config.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const running = new Set<ChildProcess>();
let hooked = false;

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resident memory now, in bytes. */
  rss(): Promise<number>;
  /** Open file descriptors now (entries of /proc/PID/fd). */
  fds(): Promise<number>;
  /**
   * The descriptors by kind: TCP connections clients made to it (`inbound`), connections it made
   * (`outbound`: a storage client's keep-alive pool), and everything else (files, pipes, the
   * listening socket, the event loop's own).
   */
  fdKinds(): Promise<{ inbound: number; outbound: number; other: number }>;
}

/** Socket inode -> [local port, remote port] of every TCP connection in this network namespace. */
async function tcpConnections(pid: number): Promise<Map<string, [number, number]>> {
  const byInode = new Map<string, [number, number]>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const port = (address: string) => Number.parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
      byInode.set(fields[9]!, [port(fields[1]!), port(fields[2]!)]);
    }
  }
  return byInode;
}

/** The parts of a config a served process needs, as a file (JSON is YAML). */
export async function writeConfigFile(config: Config, file: string): Promise<string> {
  await writeFile(file, JSON.stringify({ storage: config.storage, log: { level: 'warn' }, limits: config.limits }));
  return file;
}

/** `args`: more options for `serve` (`--workers 2`). */
export async function startServerProcess(configFile: string, listen = '127.0.0.1:0', args: string[] = []): Promise<ServerProcess> {
  if (!hooked) {
    hooked = true;
    afterAll(() => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile, '--listen', listen, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child);
    return code as number | null;
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'listening') resolve(entry.url as string);
      } catch {
        logs.push({ raw: line });
      }
    });
    void exited.then((code) => reject(new Error(`berth serve exited (${code}) before listening: ${stderr}`)));
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    child,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async rss() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)![1]) * 1024;
    },
    async fds() {
      return (await readdir(`/proc/${pid}/fd`)).length;
    },
    async fdKinds() {
      const port = Number(new URL(url).port);
      const connections = await tcpConnections(pid);
      const kinds = { inbound: 0, outbound: 0, other: 0 };
      for (const fd of await readdir(`/proc/${pid}/fd`)) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        const ports = inode ? connections.get(inode) : undefined;
        if (!ports || ports[1] === 0) kinds.other += 1;
        else if (ports[0] === port) kinds.inbound += 1;
        else kinds.outbound += 1;
      }
      return kinds;
    },
  };
}
