/**
 * /readyz follows S3: 503 with the reason while the S3 server cannot be reached, 200 again once
 * it is back. A TCP proxy in front of s3rver plays the network: closed, then opened again on the
 * same port.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '../helpers/http.js';
import { s3Config } from '../helpers/s3-config.js';
import { useS3rver } from '../helpers/s3rver.js';
import { startTestServer } from '../helpers/server.js';

/** A TCP proxy to `target` that can be taken down (listener closed, connections cut) and up again. */
class Outage {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

describe('/readyz on S3', () => {
  const s3 = useS3rver();
  const toClean: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const clean of toClean.reverse()) await clean();
  });

  it('is 503 with the reason while S3 is unreachable and 200 when it is back', async () => {
    const endpoint = new URL(s3().endpoint);
    const outage = new Outage({ host: endpoint.hostname, port: Number(endpoint.port) });
    await outage.up();
    toClean.push(() => outage.down());
    const { config, cleanup } = await s3Config(s3(), (c) => (c.storage.s3.endpoint = `http://127.0.0.1:${outage.port}`));
    toClean.push(cleanup);
    const server = await startTestServer(config);
    toClean.push(() => server.close());
    const client = new Client(server.url);

    expect((await client.get('/readyz')).status).toBe(200);
    await outage.down();
    const down = await client.get('/readyz');
    expect(down.status).toBe(503);
    expect(down.json.status).toBe('unavailable');
    expect(down.json.checks.storage).toMatch(/^s3 storage unreachable: /);
    expect((await client.get('/healthz')).status).toBe(200); // alive, just not ready
    await outage.up();
    const back = await client.get('/readyz');
    expect(back.status).toBe(200);
    expect(back.json).toEqual({ status: 'ready', checks: { storage: 'ok' } });
  });
});
