/**
 * Listening, graceful shutdown. `startServer` logs one `listening` line with the bound address;
 * `close()` stops accepting, lets requests in flight finish (for a while), then ends. The
 * transport (HTTP or HTTPS, certificates) comes from src/tls; beside the main listener run the
 * metrics listener (`metrics.listen`) and the scheduled gc.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { type App, createApp } from './app.js';
import { type Config, isLoopbackHost, parseListen } from './config.js';
import { deploymentWarnings } from './deployment-warnings.js';
import { GcSchedule } from './gc-schedule.js';
import { type MetricsListener, startMetricsListener } from './metrics/listener.js';
import { answerClientError, refuseConnect } from './http/index.js';
import { describeStorage } from './storage.js';
import { createListener } from './tls/index.js';

export interface RunningServer {
  app: App;
  server: Server;
  /** `http(s)://host:port` of the bound address. */
  url: string;
  port: number;
  /** `http://host:port/metrics` when metrics have a listener of their own. */
  metricsUrl?: string;
  /** Re-reads the TLS certificate files (SIGHUP); true when a new certificate went into service. */
  reload(): Promise<boolean>;
  close(graceMs?: number): Promise<void>;
}

export async function startServer(config: Config, log: Logger, driver?: StorageDriver): Promise<RunningServer> {
  const app = await createApp(config, { log, driver });
  const { timeouts } = config;
  // Blobs can be many GiB over slow links: no limit on a whole request, only on its headers, on
  // a connection with nothing moving, and between requests. Small bodies have their own deadline
  // (src/http/request.ts). Node checks the header deadline on an interval: a fraction of it.
  const listener = await createListener(config.tls, app.koa.callback(), {
    driver: app.registry.driver,
    log,
    onCertificate: (pair) => app.metrics.tlsExpiry.set(pair.notAfter.getTime() / 1000),
    serverOptions: {
      requestTimeout: 0,
      headersTimeout: timeouts.headers * 1000,
      keepAliveTimeout: timeouts.keepAlive * 1000,
      connectionsCheckingInterval: Math.min(5000, Math.max(250, timeouts.headers * 250)),
    },
  });
  const server = listener.server;
  server.setTimeout(timeouts.idle * 1000);
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
  const url = `${listener.protocol}://${shownHost}:${address.port}`;
  // At info level whatever the configured level: scripts and tests read the bound address here.
  log.child({}, { level: 'info' }).info({ address: `${shownHost}:${address.port}`, url, storage: describeStorage(config.storage), auth: config.auth.mode }, 'listening');
  const metricsListener: MetricsListener | undefined =
    config.metrics.enabled && config.metrics.listen !== '' ? await startMetricsListener(() => app.metrics.render(), config.metrics.listen, log) : undefined;
  if (metricsListener) log.info({ url: metricsListener.url }, 'metrics listening');
  await listener.start();
  await app.builds.start(url);
  app.events.start(url);
  const gc = new GcSchedule(config.gc, { driver: app.registry.driver, log: log.child({ component: 'gc' }), metrics: app.metrics, replica: `${process.pid}-${randomBytes(4).toString('hex')}` });
  if (!config.readOnly) gc.start();
  for (const warning of deploymentWarnings(config)) log.warn(warning.fields ?? {}, warning.message);
  if (config.auth.mode === 'none' && !isLoopbackHost(host)) {
    if (config.auth.modeGiven) {
      log.warn({ address: url }, 'serving WITHOUT authentication on a non-loopback address (auth.mode: none): anyone who can reach it may push, pull and delete');
    } else {
      log.warn({ address: url }, 'serving pulls only: no authentication is configured and the address is not loopback, so pushes and deletes are refused; set auth.mode: token (see README, "Authentication"), or auth.mode: none to let anyone who can reach it write');
    }
  }

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000): Promise<void> => {
    app.health.drain();
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
    }).then(async () => {
      await Promise.all([app.builds.stop(), app.events.stop(), listener.stop(), gc.stop(), metricsListener?.close()]);
    });
    return closing;
  };
  return { app, server, url, port: address.port, metricsUrl: metricsListener?.url, reload: () => listener.reload(), close };
}
