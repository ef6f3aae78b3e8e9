/**
 * Listening, graceful shutdown. `startServer` logs one `listening` line with the bound address;
 * `close()` stops accepting, lets requests in flight finish (for a while), then ends.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { type App, createApp } from './app.js';
import { type Config, parseListen } from './config.js';
import { announceListening, hostPort } from './lifecycle.js';

/** How this process serves among several (src/workers.ts); the defaults are a lone server's. */
export interface ServeOptions {
  /** Log the `listening` line (a worker leaves it to the primary, which logs one for all). */
  announce?: boolean;
  /** Run once-per-replica background jobs (the build queue): in one worker only. */
  background?: boolean;
}

export interface RunningServer {
  app: App;
  server: Server;
  /** `http://host:port` of the bound address. */
  url: string;
  port: number;
  close(graceMs?: number): Promise<void>;
}

export async function startServer(config: Config, log: Logger, driver?: StorageDriver, options: ServeOptions = {}): Promise<RunningServer> {
  const app = await createApp(config, { log, driver });
  const server = createServer(app.koa.callback());
  // Blobs can be many GiB over slow links: no limit on a whole request, only on its headers
  // and on idle sockets.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.timeout = 10 * 60_000;

  const { host, port } = parseListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${hostPort(address)}`;
  if (options.announce !== false) announceListening(config, log, address);
  if (options.background !== false) await app.builds.start(url);

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      // Keep-alive connections whose request finishes during the grace period go at once too.
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      server.close(() => {
        clearTimeout(timer);
        clearInterval(idle);
        resolve();
      });
      server.closeIdleConnections();
    }).then(() => app.builds.stop());
    return closing;
  };
  return { app, server, url, port: address.port, close };
}
