/** For tests of `berth serve --workers N`: its worker processes, requests each on a connection of its own, waiting. */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** The pids of `parent`'s children. */
export function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * The pid of the worker in `slot` among the first ones `primary` forked (node:cluster numbers its
 * workers from 1 in fork order, in each one's NODE_UNIQUE_ID, and Berth forks slot 0 first).
 */
export function firstWorkerPid(primary: number, slot: number): number {
  const pid = childrenOf(primary).find((child) => readFileSync(`/proc/${child}/environ`, 'utf8').split('\0').includes(`NODE_UNIQUE_ID=${slot + 1}`));
  if (pid === undefined) throw new Error(`no first worker ${slot} under ${primary}`);
  return pid;
}

/** Polls `probe` until it gives something other than undefined. */
export async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One request on a fresh connection (so the primary deals it to the next worker); returns status, request id and body. */
export function freshRequest(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; requestId: string; body: Buffer; digest?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          requestId: String(res.headers['x-request-id']),
          body: Buffer.concat(chunks),
          digest: res.headers['docker-content-digest'] as string | undefined,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
