/**
 * /metrics of `berth serve --workers 2` reports the whole server (the compiled CLI: `npm run build`
 * first): requests answered by either worker are all counted, whichever worker answers the scrape,
 * concurrent scrapes too, and on the separate metrics listener (which one worker runs). A worker
 * that hangs fails the scrape with a 503 naming it; one that dies mid-scrape leaves the others'
 * counts. A lone server (no cluster) still counts its own.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { sample } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';
import { childrenOf, firstWorkerPid, freshRequest, until } from '../helpers/workers.js';

/** A blob no one pushed: each HEAD of it is one `berth_http_requests_total` sample nothing else moves. */
const MISSING = `/v2/metrics/probe/blobs/sha256:${'0'.repeat(64)}`;
const COUNTED = { method: 'HEAD', route: '/v2/*name/blobs/:digest', status: '404' };

interface Served {
  server: ServerProcess;
  dir: { path: string; remove: () => Promise<void> };
}

async function serve(metrics: Record<string, unknown>, args: string[]): Promise<Served> {
  const dir = await tempDir('berth-workers-metrics-');
  const config = join(dir.path, 'berth.yaml');
  await writeFile(config, JSON.stringify({ storage: { filesystem: { root: join(dir.path, 'store') } }, log: { level: 'info' }, metrics }));
  return { server: await startServerProcess(config, '127.0.0.1:0', args), dir };
}

async function stop(served: Served | undefined): Promise<void> {
  if (!served) return;
  // A worker a test stopped (SIGSTOP) would never see its primary go: kill the workers too.
  for (const pid of childrenOf(served.server.pid)) process.kill(pid, 'SIGKILL');
  await served.server.stop('SIGKILL');
  await served.dir.remove();
}

/** The worker slot that served this request (from its log line; 0 for a lone server, which logs none). */
async function servedBy(server: ServerProcess, requestId: string): Promise<number> {
  const line = await until(`the log line of request ${requestId}`, () => server.logs.find((l) => l.msg === 'request' && l.requestId === requestId));
  return (line.worker as number | undefined) ?? 0;
}

/**
 * HEADs of MISSING, each on a connection of its own (so the primary deals them to both workers);
 * resolves with how many each worker served once each is logged, and so counted (the count and the
 * log line are taken in that order when the response closes).
 */
async function headMissing(server: ServerProcess, count: number): Promise<Map<number, number>> {
  const served = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const res = await freshRequest(`${server.url}${MISSING}`, 'HEAD');
    expect(res.status).toBe(404);
    const slot = await servedBy(server, res.requestId);
    served.set(slot, (served.get(slot) ?? 0) + 1);
  }
  return served;
}

async function scrape(url: string): Promise<{ text: string; requestId: string }> {
  const res = await freshRequest(url);
  expect(res.status, res.body.toString()).toBe(200);
  return { text: res.body.toString(), requestId: res.requestId };
}

describe('/metrics with two workers, on the main listener', { timeout: 120_000 }, () => {
  let served: Served;

  beforeAll(async () => {
    served = await serve({}, ['--workers', '2']);
  });
  afterAll(() => stop(served));

  it('counts the requests both workers answered, whichever worker answers the scrape', async () => {
    const { server } = served;
    const byWorker = await headMissing(server, 10);
    expect([...byWorker.keys()].sort()).toEqual([0, 1]);

    const scrapers = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const { text, requestId } = await scrape(`${server.url}/metrics`);
      expect(sample(text, 'berth_http_requests_total', COUNTED)).toBe(10);
      expect(sample(text, 'berth_http_request_duration_seconds_count', { method: 'HEAD', route: COUNTED.route })).toBe(10);
      scrapers.add(await servedBy(server, requestId));
    }
    expect([...scrapers].sort()).toEqual([0, 1]);
  });

  it('answers concurrent scrapes on both workers with the whole count', async () => {
    const { server } = served;
    const texts = await Promise.all(Array.from({ length: 8 }, () => scrape(`${server.url}/metrics`)));
    for (const { text } of texts) expect(sample(text, 'berth_http_requests_total', COUNTED)).toBe(10);
  });
});

describe('/metrics with two workers, on metrics.listen', { timeout: 120_000 }, () => {
  let served: Served;
  let metricsUrl: string;

  beforeAll(async () => {
    served = await serve({ listen: '127.0.0.1:0' }, ['--workers', '2']);
    metricsUrl = (await until('the metrics listener', () => served.server.logs.find((l) => l.msg === 'metrics listening')?.url)) as string;
  });
  afterAll(() => stop(served));

  it('counts the requests both workers answered', async () => {
    const byWorker = await headMissing(served.server, 10);
    expect([...byWorker.keys()].sort()).toEqual([0, 1]);
    const { text } = await scrape(metricsUrl);
    expect(sample(text, 'berth_http_requests_total', COUNTED)).toBe(10);
  });

  it('fails the scrape with 503 naming a worker that hangs, and leaves out one that dies mid-scrape', async () => {
    const { server } = served;
    await headMissing(server, 6);
    const total = 10 + 6;
    expect(sample((await scrape(metricsUrl)).text, 'berth_http_requests_total', COUNTED)).toBe(total);

    // The metrics listener runs in worker 0; worker 1 stops answering.
    const hung = firstWorkerPid(server.pid, 1);
    process.kill(hung, 'SIGSTOP');
    const failed = await freshRequest(metricsUrl);
    expect(failed.status).toBe(503);
    expect(failed.body.toString()).toBe('metrics could not be collected: worker 1 did not answer within 5 s\n');

    // Dies while a scrape waits for it: the scrape answers with what worker 0 counted.
    const pending = freshRequest(metricsUrl);
    await sleep(300);
    process.kill(hung, 'SIGKILL');
    const partial = await pending;
    expect(partial.status).toBe(200);
    const worker0 = server.logs.filter((l) => l.msg === 'request' && l.worker === 0 && l.method === 'HEAD' && l.path === MISSING).length;
    expect(worker0).toBeGreaterThan(0);
    expect(worker0).toBeLessThan(total);
    expect(sample(partial.body.toString(), 'berth_http_requests_total', COUNTED)).toBe(worker0);
  });
});

describe('/metrics of a lone server', { timeout: 60_000 }, () => {
  let served: Served;

  beforeAll(async () => {
    served = await serve({}, []);
  });
  afterAll(() => stop(served));

  it('counts its requests', async () => {
    await headMissing(served.server, 4);
    const { text } = await scrape(`${served.server.url}/metrics`);
    expect(sample(text, 'berth_http_requests_total', COUNTED)).toBe(4);
  });
});
