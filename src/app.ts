/**
 * createApp(config) -> the Koa app, never listening. Middleware order:
 * metrics (src/metrics: counts every answer, errors included) -> errors (so every failure becomes
 * the OCI error JSON: src/http/errors.ts) -> trusted proxies (client address and origin:
 * src/http/proxies.ts) -> request id + log -> read-only gate (src/http/read-only.ts) -> API
 * version header (src/api) -> auth (who may do what: src/auth) -> routes: /healthz and /readyz
 * (src/health), /metrics, /v2 (src/api), /api/repositories and /api/usage (src/repositories),
 * /token (src/auth), /webhooks and /api/builds (src/builds), /api/events and tag histories
 * (src/events, which the registry tells of every push and delete), /api/admin (src/admin), and
 * the web console at / with /api/session (src/console).
 *
 * The route modules share the HTTP kit in src/http and reach storage only through the registry
 * layer (src/registry), which knows nothing of HTTP; generic helpers live in src/util.
 */
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { errorMiddleware, isClientGone, proxyMiddleware, readOnlyMiddleware, TrustedProxies, type AppState } from './http/index.js';
import { createAdminRouter, GcPreviewer } from './admin/index.js';
import { apiVersionHeader, createApiRouter } from './api/index.js';
import { type AuthModule, createAuth } from './auth/index.js';
import { type BuildsModule, createBuilds } from './builds/index.js';
import type { Config } from './config.js';
import { createConsoleRouter } from './console/index.js';
import { createEvents, type EventsModule } from './events/index.js';
import { Health } from './health/index.js';
import { httpMetrics, MeteredDriver, Metrics } from './metrics/index.js';
import { RegistryError } from './registry/errors.js';
import { Registry } from './registry/registry.js';
import { createRepositoriesRouter } from './repositories/index.js';
import { createStorageDriver } from './storage.js';
import { parseDuration } from './util/index.js';

export interface App {
  koa: Koa<AppState>;
  registry: Registry;
  auth: AuthModule;
  builds: BuildsModule;
  events: EventsModule;
  metrics: Metrics;
  health: Health;
  log: Logger;
}

export interface AppOptions {
  log: Logger;
  /** A driver to use instead of the one the config names (tests). */
  driver?: StorageDriver;
}

/** `trustedProxies`, plus everything under the deprecated `auth.trustForwardedHeaders: true`. */
export function trustedProxyList(config: Config): string[] {
  return config.auth.trustForwardedHeaders ? [...config.trustedProxies, '0.0.0.0/0', '::/0'] : config.trustedProxies;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const { log } = options;
  const metrics = new Metrics();
  const driver = new MeteredDriver(options.driver ?? (await createStorageDriver(config.storage)), metrics);
  const events = createEvents(config.notifications, { driver, log });
  const { recorder } = events;
  const registry = new Registry(driver, { ...config.limits }, log, {
    changes: recorder.observer,
    bytesReceived: (n) => metrics.blobBytes.inc({ direction: 'in' }, n),
  });
  registry.recent.refreshMs = parseDuration(config.console.refresh)!;
  if (config.console.enabled) registry.recent.warm();
  const auth = await createAuth(config.auth, { driver, log, listen: config.listen, onLogin: (result) => metrics.authLogins.inc({ result }) });
  // A build's own thread opens the storage itself: only storage a second driver can share.
  const threadStorage = options.driver || config.storage.driver === 'memory' ? undefined : config.storage;
  const builds = createBuilds(config, {
    registry,
    driver,
    auth,
    log,
    threadStorage,
    onBuild: recorder.onBuild,
    observer: recorder.observer,
    onFinished: (result) => metrics.builds.inc({ result }),
  });
  metrics.watchBuildQueue(() => builds.queuedCount());
  metrics.watchEventDeliveries(() => events.stats());
  const health = new Health(driver);
  const koa = new Koa<AppState>({ proxy: false });
  // Errors after the response started end here: log, no reply. A client that closes the
  // connection early (or right after reading the last byte, as Go clients do) is no fault.
  koa.on('error', (err: Error) => {
    const clientGone = isClientGone(err);
    log[clientGone ? 'debug' : 'warn']({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, clientGone ? 'client closed the connection' : 'response stream failed');
  });

  koa.use(httpMetrics(metrics));
  koa.use(errorMiddleware);
  koa.use(proxyMiddleware(new TrustedProxies(trustedProxyList(config))));
  koa.use(async (ctx, next) => {
    const given = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    const started = process.hrtime.bigint();
    const remote = ctx.ip; // read now: it is gone once the socket closes
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ requestId });
    ctx.state.bodyTimeoutMs = config.timeouts.body * 1000;
    ctx.set('X-Request-Id', requestId);
    ctx.res.once('close', () => {
      ctx.state.log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.res.headersSent ? ctx.res.statusCode : ctx.status,
          ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
          bytesIn: Number(ctx.get('Content-Length')) || undefined,
          bytesOut: ctx.response.length,
          remote,
          user: ctx.state.permissions?.subject,
          completed: ctx.res.writableFinished,
        },
        'request',
      );
    });
    await next();
  });
  if (config.readOnly) koa.use(readOnlyMiddleware);
  koa.use(apiVersionHeader);
  koa.use(auth.middleware);

  // Paths no route serves get the OCI error JSON too (wrong methods: 405 from allowedMethods).
  koa.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body == null) throw new RegistryError('UNSUPPORTED', 'no such endpoint', { status: 404 });
  });
  const routers = [
    health.router(),
    createApiRouter({ registry, config, onPull: recorder.onPull }),
    createRepositoriesRouter(registry, { pusher: events.pusher }),
    auth.router,
    builds.router,
    events.router,
    createAdminRouter({ gc: new GcPreviewer(driver, config.gc), robots: auth.robots }),
    createConsoleRouter({ config: config.console, auth: config.auth, readOnly: config.readOnly, linked: config.builds.repositories }),
  ];
  if (config.metrics.enabled && config.metrics.listen === '') routers.push(metrics.router());
  for (const router of routers) {
    koa.use(router.routes());
    koa.use(router.allowedMethods({ throw: true }));
  }
  return { koa, registry, auth, builds, events, metrics, health, log };
}
