/**
 * Process plumbing for the targets: free ports, waiting for readiness, resident memory from
 * /proc, and cleanup that runs however the bench ends (normal end, failure, Ctrl-C).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port free right now on 127.0.0.1 (the OS picks it; the tiny race until the target binds is accepted). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `GET url` until it answers 200 (or 401: a registry with auth on), the child exits, or the time is up. */
export async function waitReady(url: string, child: ChildProcess, describe: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before it was ready (${child.exitCode ?? child.signalCode}):\n${describe()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`not ready after ${timeoutMs} ms:\n${describe()}`);
}

export interface MemoryKiB {
  rss: number;
  /** Peak resident size since start or since the last `resetPeak`. */
  hwm: number;
}

export function readMemory(pid: number): MemoryKiB | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) `pid` has used so far; Linux counts them in 1/100 s ticks. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5"); false where that is not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface PeakMemory<T> {
  result: T;
  /** MiB resident before the work began. */
  beforeMiB: number;
  /** Highest MiB resident while it ran: VmHWM after a reset, or the highest sample if larger. */
  peakMiB: number;
}

/** Runs `work` while watching the resident memory of `pid` (sampled every 20 ms, plus VmHWM). */
export async function withPeakMemory<T>(pid: number, work: () => Promise<T>): Promise<PeakMemory<T>> {
  const exact = resetPeak(pid);
  const before = readMemory(pid)?.rss ?? NaN;
  let sampled = before;
  const timer = setInterval(() => {
    const now = readMemory(pid);
    if (now && now.rss > sampled) sampled = now.rss;
  }, 20);
  try {
    const result = await work();
    const end = readMemory(pid);
    const peak = Math.max(sampled, exact && end ? end.hwm : 0, end?.rss ?? 0);
    return { result, beforeMiB: before / 1024, peakMiB: peak / 1024 };
  } finally {
    clearInterval(timer);
  }
}

/** Flushes dirty pages so one target's writes are not paid for during the next one's timing. */
export function syncDisks(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// --- cleanup ---------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
const paths = new Set<string>();

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function trackPath(path: string): void {
  paths.add(path);
}

export function untrackPath(path: string): void {
  paths.delete(path);
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Synchronous, so nothing else runs in between: kills every tracked child (targets and helper
 * tools) and removes the temp dirs. Runs on 'exit' and on signals; safe to call twice.
 */
function cleanupNow(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true, maxRetries: 5 });
    } catch (err) {
      process.stderr.write(`bench: could not remove ${path}: ${(err as Error).message}\n`);
    }
  }
  paths.clear();
}

let installed = false;

/**
 * Makes Ctrl-C, SIGTERM and any exit stop the targets and remove the temp dirs. A benchmark has
 * nothing worth a graceful shutdown, so on a signal the children are killed and the bench exits.
 */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.once('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}: killing the targets and removing temp data\n`);
      cleanupNow();
      process.exit(130);
    });
  }
}
