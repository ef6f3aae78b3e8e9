/**
 * Attacks on `POST /webhooks/github` and on the HTTP server's patience, from the audit of issue 15:
 * bodies declared large and never sent, stalled headers, idle connections. The route answers
 * before reading a body it cannot trust, the server closes what stalls, and memory stays flat.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD } from '../../src/builds/github/webhook.js';
import { Client } from '../helpers/http.js';
import { openRaw, type RawConnection, within } from '../helpers/raw-http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { linkedRepository } from './builds-setup.js';

const MiB = 1024 * 1024;

function head(host: string, headers: Record<string, string>): string {
  const lines = ['POST /webhooks/github HTTP/1.1', `Host: ${host}`, 'Content-Type: application/json', 'X-GitHub-Event: push', 'X-GitHub-Delivery: 1234'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

async function rssGrowthWhile(run: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await run();
  } finally {
    clearInterval(sampler);
  }
  return (Math.max(peak, process.memoryUsage().rss) - before) / MiB;
}

describe('webhook route with nothing linked', () => {
  it('is not there: 404, whatever the signature', async () => {
    const made = await filesystemConfig();
    const server = await startTestServer(made.config);
    try {
      const body = Buffer.from('{"zen":"x"}');
      const signature = `sha256=${createHmac('sha256', 'anything').update(body).digest('hex')}`;
      const res = await new Client(server.url).request('POST', '/webhooks/github', {
        body,
        headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'ping', 'X-Hub-Signature-256': signature },
      });
      expect(res.status).toBe(404);
    } finally {
      await server.close();
      await made.cleanup();
    }
  });
});

describe('webhook bodies and stalled connections', { timeout: 120_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  const open: RawConnection[] = [];

  beforeAll(async () => {
    const made = await filesystemConfig((config) => {
      config.builds.repositories = [linkedRepository()];
      config.timeouts = { headers: 2, body: 2, idle: 60, keepAlive: 1 };
    });
    server = await startTestServer(made.config);
    cleanup = made.cleanup;
  });
  afterAll(async () => {
    for (const c of open) c.socket.destroy();
    await server?.close(100);
    await cleanup?.();
  });

  const connection = async (): Promise<RawConnection> => {
    const c = await openRaw(server.url);
    open.push(c);
    return c;
  };

  it('answers 401 before any body when the signature header is missing or malformed', async () => {
    for (const signature of [undefined, 'sha1=abc', 'sha256=xyz', `sha256=${'0'.repeat(63)}`]) {
      const c = await connection();
      c.socket.write(head(server.host, { 'Content-Length': String(MAX_PAYLOAD), ...(signature ? { 'X-Hub-Signature-256': signature } : {}) }));
      const answer = await within(c.answered, 5000, 'no answer');
      expect(answer, String(signature)).toMatch(/^HTTP\/1\.1 401 /);
      expect(await within(c.closed, 5000, 'still open')).toBeUndefined(); // and the connection is closed
    }
  });

  it('keeps memory flat under 20 connections that declare 25 MiB, send almost all of it unsigned, and stall', async () => {
    const chunk = Buffer.alloc(MAX_PAYLOAD - 1, 0x61);
    const connections: RawConnection[] = [];
    const growth = await rssGrowthWhile(async () => {
      for (let i = 0; i < 20; i++) {
        const c = await connection();
        c.socket.write(head(server.host, { 'Content-Length': String(MAX_PAYLOAD) }));
        c.socket.write(chunk);
        connections.push(c);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const closed = await Promise.all(connections.map((c) => within(c.closed, 10_000, 'still open')));
      expect(closed.every((v) => v === undefined)).toBe(true);
    });
    expect(growth).toBeLessThan(64);
  });

  it('bounds the bodies it holds for well-formed signatures, and closes those that stall', async () => {
    const connections: RawConnection[] = [];
    const chunk = Buffer.alloc(MAX_PAYLOAD - 1, 0x62);
    const growth = await rssGrowthWhile(async () => {
      for (let i = 0; i < 10; i++) {
        const c = await connection();
        c.socket.write(head(server.host, { 'Content-Length': String(MAX_PAYLOAD), 'X-Hub-Signature-256': `sha256=${'ab'.repeat(32)}` }));
        c.socket.write(chunk);
        connections.push(c);
      }
      const closed = await Promise.all(connections.map((c) => within(c.closed, 20_000, 'still open')));
      expect(closed.every((v) => v === undefined)).toBe(true);
    });
    const statuses = connections.map((c) => /^HTTP\/1\.1 (\d+)/.exec(c.received())?.[1]);
    // Past the bound: refused at once (429); within it: the body deadline ends them (408).
    expect(statuses.filter((s) => s === '429').length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === '429' || s === '408')).toBe(true);
    expect(growth).toBeLessThan(80); // one body of 25 MiB held at most (the bound is 32 MiB)
  });

  it('closes a connection whose headers stall, and a keep-alive connection left idle', async () => {
    const stalled = await connection();
    stalled.socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(await within(stalled.closed, 15_000, 'still open')).toBeUndefined();

    const idle = await connection();
    idle.socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await within(idle.answered, 5000, 'no answer')).toMatch(/^HTTP\/1\.1 200 /);
    expect(await within(idle.closed, 10_000, 'still open')).toBeUndefined();
  });

  it('ends a small body that stops arriving (a manifest here) with 408', async () => {
    const c = await connection();
    c.socket.write('PUT /v2/demo/x/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100\r\n\r\n{"schemaVersion":');
    expect(await within(c.closed, 15_000, 'still open')).toBeUndefined();
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});
