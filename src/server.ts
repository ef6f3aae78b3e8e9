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
import { type Config, parseListen } from './config.js';
import { GcSchedule } from './gc-schedule.js';
import { evictUnpulled } from './proxy/evict.js';
import { announceListening, listeningUrl } from './listening.js';
import { type MetricsListener, startMetricsListener } from './metrics/listener.js';
import { answerClientError, refuseConnect } from './http/index.js';
import { createListener } from './tls/index.js';

/** How this process serves among several (src/workers.ts); the defaults are a lone server's. */
export interface ServeOptions {
  /**
   * Log the `listening` line and the deployment warnings (src/listening.ts; a worker leaves them
   * to the primary, which logs them once for all).
   */
  announce?: boolean;
  /**
   * Run once-per-replica background jobs (the build queue, scheduled gc, proxy syncs, the
   * separate metrics listener): in one worker only.
   */
  background?: boolean;
  /** One worker of several: /metrics reports them all (src/metrics/cluster-worker.ts). */
  cluster?: boolean;
}

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

export async function startServer(config: Config, log: Logger, driver?: StorageDriver, options: ServeOptions = {}): Promise<RunningServer> {
  const app = await createApp(config, { log, driver });
  // Before listening: once the primary sees this worker listen, it asks it for its metrics.
  if (options.cluster) (await import('./metrics/cluster-worker.js')).joinCluster(app.metrics);
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
  const url = listeningUrl(config, address);
  if (options.announce !== false) announceListening(config, log, address);
  const background = options.background !== false;
  const metricsListener: MetricsListener | undefined =
    background && config.metrics.enabled && config.metrics.listen !== '' ? await startMetricsListener(() => app.metrics.render(), config.metrics.listen, log) : undefined;
  if (metricsListener) log.info({ url: metricsListener.url }, 'metrics listening');
  await listener.start();
  const replica = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const gc = new GcSchedule(config.gc, {
    driver: app.registry.driver,
    log: log.child({ component: 'gc' }),
    metrics: app.metrics,
    replica,
    evict: () => evictUnpulled(app.registry, config.proxies, { dryRun: false }),
  });
  // Event deliveries take a lease per endpoint, so every worker may run them.
  app.events.start(url);
  if (background) {
    await app.builds.start(url);
    if (!config.readOnly) gc.start();
    app.proxies?.start(replica);
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
      await Promise.all([app.builds.stop(), app.events.stop(), listener.stop(), gc.stop(), metricsListener?.close(), app.proxies?.stop()]);
    });
    return closing;
  };
  return { app, server, url, port: address.port, metricsUrl: metricsListener?.url, reload: () => listener.reload(), close };
}
