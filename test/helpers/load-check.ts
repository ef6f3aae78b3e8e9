/**
 * One load run against Berth processes (test/helpers/process-server.ts) and everything checked
 * after it: no 5xx and no logged server error, every pushed image pulled back whole from every
 * server, fsck clean, descriptors back to idle and memory back near idle. Sizes come from
 * `LOAD_CLIENTS` and `LOAD_SECONDS` (modest by default; the 50 clients for 30 s is
 * `LOAD_CLIENTS=50 LOAD_SECONDS=30`).
 */
import { expect } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { AgentClient, fsckErrors, runLoad, sleep, verifyImage } from './load.js';
import type { ServerProcess } from './process-server.js';

type FdKinds = Awaited<ReturnType<ServerProcess['fdKinds']>>;

const MiB = 1024 * 1024;

export interface LoadFigures {
  clients: number;
  seconds: number;
  requests: number;
  operations: Record<string, number>;
  serverErrors: string[];
  failures: string[];
  loggedErrors: string[];
  imagesVerified: number;
  pullFailures: string[];
  fsck: string[];
  /**
   * Per server: descriptors and resident memory (MiB) when idle, at the peak, and after; the
   * descriptors after, by kind (client connections, storage connections, the rest).
   */
  servers: { fdsIdle: number; fdsAfter: number; fdKindsIdle: FdKinds; fdKindsAfter: FdKinds; rssIdleMiB: number; rssPeakMiB: number; rssAfterMiB: number }[];
}

export async function loadAndCheck(servers: ServerProcess[], driver: StorageDriver): Promise<LoadFigures> {
  const clients = Number(process.env.LOAD_CLIENTS ?? 20);
  const seconds = Number(process.env.LOAD_SECONDS ?? 8);
  const urls = servers.map((s) => s.url);
  await runLoad(urls, { clients: 2, seconds: 1 }); // warm up: modules loaded, caches primed
  await sleep(500);
  const idle = await Promise.all(servers.map(async (s) => ({ fds: await s.fds(), kinds: await s.fdKinds(), rss: await s.rss() })));
  const peaks = idle.map((i) => i.rss);
  const sampler = setInterval(() => {
    servers.forEach((s, i) => void s.rss().then((rss) => (peaks[i] = Math.max(peaks[i]!, rss)), () => {}));
  }, 200);
  const result = await runLoad(urls, { clients, seconds }).finally(() => clearInterval(sampler));

  // Everything pushed, pulled back from every server.
  const pullFailures: string[] = [];
  let imagesVerified = 0;
  for (const url of urls) {
    const client = new AgentClient(url);
    for (const image of result.images) {
      const problem = await verifyImage(client, image);
      if (problem) pullFailures.push(`${url}: ${problem}`);
      else imagesVerified += 1;
    }
    client.close();
  }
  const fsck = await fsckErrors(driver);

  // Settle: the clients' connections are closed; wait for descriptors and memory to come back.
  // A storage client's keep-alive pool may keep its connections (bounded by its socket limit):
  // what must come back are the clients' connections and everything that is no connection.
  const after = [] as { fds: number; kinds: FdKinds; rss: number }[];
  for (const [i, server] of servers.entries()) {
    let kinds = await server.fdKinds();
    const back = () => kinds.inbound <= idle[i]!.kinds.inbound && kinds.other <= idle[i]!.kinds.other;
    for (let waited = 0; waited < 10_000 && !back(); waited += 250) {
      await sleep(250);
      kinds = await server.fdKinds();
    }
    const fds = await server.fds();
    let rss = await server.rss();
    for (let waited = 0; waited < 15_000 && rss > idle[i]!.rss + 64 * MiB; waited += 500) {
      await sleep(500);
      rss = await server.rss();
    }
    after.push({ fds, kinds, rss });
  }
  const loggedErrors = servers.flatMap((s) => s.logs.filter((l) => Number(l.level) >= 50).map((l) => JSON.stringify(l).slice(0, 300)));
  const mib = (n: number) => Math.round(n / MiB);
  return {
    clients,
    seconds,
    requests: result.requests,
    operations: result.operations,
    serverErrors: result.serverErrors,
    failures: result.failures,
    loggedErrors,
    imagesVerified,
    pullFailures,
    fsck,
    servers: servers.map((_, i) => ({ fdsIdle: idle[i]!.fds, fdsAfter: after[i]!.fds, fdKindsIdle: idle[i]!.kinds, fdKindsAfter: after[i]!.kinds, rssIdleMiB: mib(idle[i]!.rss), rssPeakMiB: mib(peaks[i]!), rssAfterMiB: mib(after[i]!.rss) })),
  };
}

/** What a load run must come out with: nothing failed, lost or leaked. */
export function expectLoadClean(figures: LoadFigures): void {
  expect(figures.serverErrors).toEqual([]);
  expect(figures.loggedErrors).toEqual([]);
  expect(figures.failures).toEqual([]);
  expect(figures.pullFailures).toEqual([]);
  expect(figures.fsck).toEqual([]);
  expect(figures.imagesVerified).toBeGreaterThan(0);
  for (const s of figures.servers) {
    expect(s.fdKindsAfter.inbound).toBeLessThanOrEqual(s.fdKindsIdle.inbound);
    expect(s.fdKindsAfter.other).toBeLessThanOrEqual(s.fdKindsIdle.other);
    expect(s.fdKindsAfter.outbound).toBeLessThanOrEqual(50); // the AWS SDK's keep-alive pool at most
    expect(s.rssAfterMiB).toBeLessThanOrEqual(s.rssIdleMiB + 64);
  }
}
