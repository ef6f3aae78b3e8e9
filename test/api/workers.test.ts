/**
 * `berth serve --workers 2` as users run it (the compiled CLI: `npm run build` first): one
 * `listening` line for both workers on a port 0 picked, both workers serving, a tag moved through
 * one seen at once through the other (workers share only storage, like replicas), a killed worker
 * replaced, and SIGTERM stopping everything with exit 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { tempDir } from '../helpers/tmp.js';
import { childrenOf, freshRequest, until } from '../helpers/workers.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface LogLine {
  msg: string;
  worker?: number;
  requestId?: string;
  url?: string;
  pid?: number;
  [key: string]: unknown;
}

describe('berth serve --workers 2', { timeout: 120_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let child: ChildProcess;
  const lines: LogLine[] = [];
  /** Output lines that are not JSON: two workers' writes torn into each other. */
  const torn: string[] = [];
  let url = '';
  let client: Client;

  /** The worker that served the request with this id (its log line arrives shortly after the answer). */
  const servedBy = (requestId: string): Promise<number> =>
    until(`the log line of request ${requestId}`, () => lines.find((l) => l.msg === 'request' && l.requestId === requestId)?.worker);

  beforeAll(async () => {
    dir = await tempDir('berth-workers-');
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, 'storage:\n  filesystem:\n    root: ./store\nlog:\n  level: info\n');
    child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--listen', '127.0.0.1:0', '--workers', '2'], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        torn.push(line);
      }
    });
    url = (await until('the listening line', () => lines.find((l) => l.msg === 'listening')?.url)) as string;
    client = new Client(url);
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await dir?.remove();
  });

  it('logs one listening line, on the port its socket got, and both workers serve there', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:(?!0$)\d+$/);
    const workers = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const res = await freshRequest(`${url}/v2/`);
      expect(res.status).toBe(200);
      workers.add(await servedBy(res.requestId));
    }
    expect([...workers].sort()).toEqual([0, 1]);
    expect(lines.filter((l) => l.msg === 'listening')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'listening')).toMatchObject({ workers: 2 });
  });

  it('shows a tag moved through one worker on the next request to the other', async () => {
    const name = 'workers/tags';
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = await client.pushBlob(name, config);
    const layers = await Promise.all(['one', 'two'].map((text) => client.pushBlob(name, text)));
    const images = layers.map((layer) => {
      const body = Buffer.from(JSON.stringify(imageManifest([configDigest, config.length], [[layer, 3]])));
      return { body, digest: sha256(body) };
    });

    for (const [round, image] of [...images, ...images].entries()) {
      // Move `latest` on a fresh connection, then read it on fresh connections until the other worker has answered.
      const put = await new Promise<{ status: number; requestId: string }>((resolve, reject) => {
        const headers = { 'Content-Type': OCI_MANIFEST, 'Content-Length': image.body.length };
        const req = request(`${url}/v2/${name}/manifests/latest`, { method: 'PUT', agent: false, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']) }));
        });
        req.on('error', reject);
        req.end(image.body);
      });
      expect(put.status).toBe(201);
      const writer = await servedBy(put.requestId);
      let otherSaw = false;
      for (let i = 0; i < 10 && !otherSaw; i++) {
        const get = await freshRequest(`${url}/v2/${name}/manifests/latest`, 'GET', { Accept: OCI_MANIFEST });
        expect(get.digest, `round ${round}, read ${i}`).toBe(image.digest);
        otherSaw = (await servedBy(get.requestId)) !== writer;
      }
      expect(otherSaw).toBe(true);
    }
  });

  it('keeps every log line whole while both workers log at once into a full pipe', async () => {
    const before = lines.length;
    const path = `/v2/workers/load/blobs/sha256:${'0'.repeat(64)}`;
    // 64 connections x 40 requests, each logged by whichever worker serves it, while nobody
    // reads the pipe: it fills, both workers' writes wait, and then go on at the same time.
    child.stdout!.pause();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < 40; i++) {
          await new Promise<void>((resolve, reject) => request(`${url}${path}`, { method: 'HEAD', agent }, (res) => res.resume().on('end', resolve)).on('error', reject).end());
        }
        agent.destroy();
      }),
    );
    child.stdout!.resume();
    const logged = (): number => lines.filter((l, i) => i >= before && l.msg === 'request').length;
    await until('every request line, or a torn one', () => (logged() >= 64 * 40 || torn.length > 0 ? true : undefined));
    expect(torn.slice(0, 3)).toEqual([]);
    expect(logged()).toBe(64 * 40);
  });

  it('replaces a killed worker, and stops everything with exit 0 on SIGTERM', async () => {
    const before = childrenOf(child.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await until('a replacement worker', () => {
      const now = childrenOf(child.pid!);
      return now.length === 2 && !now.includes(before[0]!) ? now : undefined;
    });
    expect(lines.some((l) => l.msg === 'a worker died: starting a new one')).toBe(true);
    // The replacement serves: both slots answer again (once it has started, which takes a while
    // on a loaded machine: until then the primary deals every connection to the survivor).
    const workers = new Set<number>();
    const deadline = Date.now() + 30_000;
    while (workers.size < 2 && Date.now() < deadline) {
      const res = await freshRequest(`${url}/v2/`);
      expect(res.status).toBe(200);
      workers.add(await servedBy(res.requestId));
      if (workers.size < 2) await sleep(50);
    }
    expect(workers.size).toBe(2);

    const after = childrenOf(child.pid!);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(after.filter((pid) => readdirSync('/proc').includes(String(pid)))).toEqual([]);
  });
});
