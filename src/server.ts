/**
 * Listening, graceful shutdown. `startServer` logs one `listening` line with the bound address;
 * `close()` stops accepting, lets requests in flight finish (for a while), then ends.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { type App, createApp } from './app.js';
import { type Config, isLoopbackHost, parseListen } from './config.js';
import { answerClientError, refuseConnect } from './http/index.js';
import { describeStorage } from './storage.js';

export interface RunningServer {
  app: App;
  server: Server;
  /** `http://host:port` of the bound address. */
  url: string;
  port: number;
  close(graceMs?: number): Promise<void>;
}

export async function startServer(config: Config, log: Logger, driver?: StorageDriver): Promise<RunningServer> {
  const app = await createApp(config, { log, driver });
  const server = createServer(app.koa.callback());
  // Blobs can be many GiB over slow links: no limit on a whole request, only on its headers
  // and on idle sockets.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.timeout = 10 * 60_000;
  server.on('connect', refuseConnect);
  server.on('clientError', answerClientError);

  const { host, port } = parseListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  // At info level whatever the configured level: scripts and tests read the bound address here.
  log.child({}, { level: 'info' }).info({ address: `${shownHost}:${address.port}`, url, storage: describeStorage(config.storage), auth: config.auth.mode }, 'listening');
  await app.builds.start(url);
  app.events.start(url);
  if (config.auth.mode === 'none' && !isLoopbackHost(host)) {
    if (config.auth.modeGiven) {
      log.warn({ address: url }, 'serving WITHOUT authentication on a non-loopback address (auth.mode: none): anyone who can reach it may push, pull and delete');
    } else {
      log.warn({ address: url }, 'serving pulls only: no authentication is configured and the address is not loopback, so pushes and deletes are refused; set auth.mode: token (see README, "Authentication"), or auth.mode: none to let anyone who can reach it write');
    }
  }

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
    }).then(() => Promise.all([app.builds.stop(), app.events.stop()]).then(() => {}));
    return closing;
  };
  return { app, server, url, port: address.port, close };
}
