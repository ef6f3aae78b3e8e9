/**
 * A notification receiver for tests: Koa on 127.0.0.1 and an ephemeral port (or a given one, to
 * come back up where Berth expects it), checking each delivery's signature on its own (HMAC-SHA256
 * of the raw body, compared in constant time: not with Berth's code) and recording it. It can
 * answer a status of the test's choosing, so an endpoint can fail for a while.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';

export interface Delivery {
  path: string;
  contentType: string;
  signature: string | undefined;
  /** The signature matched the receiver's secret. */
  verified: boolean;
  /** The events in it (Distribution's envelope: every event; CloudEvents: its `data`). */
  events: Record<string, any>[];
  /** The parsed body as sent. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** What the receiver answered. */
  status: number;
  /** When it came (ms since the epoch). */
  at: number;
}

export class Receiver {
  readonly deliveries: Delivery[] = [];
  /** Decides each answer (default 204); gets the delivery before it is recorded. */
  answer: (delivery: Omit<Delivery, 'status' | 'at'>) => number = () => 204;
  private waiters: (() => void)[] = [];

  private constructor(
    private server: Server,
    readonly port: number,
    private readonly secret: string,
  ) {}

  static async start(secret: string, port = 0): Promise<Receiver> {
    const app = new Koa();
    let receiver: Receiver | undefined;
    app.use(async (ctx) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks);
      const signature = ctx.get('X-Berth-Signature-256') || undefined;
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const verified = signature !== undefined && Buffer.byteLength(signature) === expected.length && timingSafeEqual(Buffer.from(signature), expected);
      const body = JSON.parse(raw.toString('utf8'));
      const events = Array.isArray(body.events) ? body.events : [body.data];
      const delivery = { path: ctx.path, contentType: ctx.get('Content-Type'), signature, verified, events, body, headers: { ...ctx.headers } };
      const status = receiver!.answer(delivery);
      receiver!.deliveries.push({ ...delivery, status, at: Date.now() });
      ctx.status = status;
      ctx.body = status >= 300 ? `refused (${status})` : '';
      for (const wake of receiver!.waiters.splice(0)) wake();
    });
    const server = app.listen(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    receiver = new Receiver(server, (server.address() as AddressInfo).port, secret);
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Events delivered with a 2xx answer, in the order they came. */
  accepted(path?: string): Record<string, any>[] {
    return this.deliveries.filter((d) => d.status < 300 && (path === undefined || d.path === path)).flatMap((d) => d.events);
  }

  /** Waits until `check` holds (checked after each delivery), at most `ms`. */
  async waitFor(check: () => boolean, ms = 20_000, what = 'deliveries'): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`receiver: timed out waiting for ${what}; got ${this.deliveries.length}: ${JSON.stringify(this.deliveries.map((d) => [d.path, d.status, d.events.map((e) => e.action)]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Runs `check` until it passes (returns without throwing), at most `ms`. */
export async function eventually(check: () => Promise<void> | void, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A port nothing listens on now (found by listening on port 0 and closing again). */
export async function freePort(): Promise<number> {
  const receiver = await Receiver.start('unused');
  const { port } = receiver;
  await receiver.close();
  return port;
}
