/**
 * createApp(config) -> the Koa app, never listening. Middleware order:
 * metrics (src/metrics: counts every answer, errors included) -> errors (so every failure becomes
 * the OCI error JSON: src/http/errors.ts) -> trusted proxies (client address and origin:
 * src/http/proxies.ts) -> request id + log -> read-only gate (src/http/read-only.ts) -> API
 * version header (src/api) -> auth (who may do what: src/auth) -> pull-through caches (fill
 * storage from upstream registries before the routes serve it: src/proxy) -> routes: /healthz and /readyz
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
import { errorMiddleware, isClientGone, proxyMiddleware, readOnlyMiddleware, refuseUnreadablePath, RequestState, TrustedProxies, type AppState, type HttpRouter } from './http/index.js';
import { createAdminRouter, type EvictionPreview, GcPreviewer } from './admin/index.js';
import { apiVersionHeader, createApiRouter } from './api/index.js';
import type { AuthModule } from './auth/index.js';
import { openAccess } from './auth/open.js';
import type { BuildsModule } from './builds/index.js';
import { loadBuilds } from './builds/load.js';
import type { Config } from './config.js';
import { createConsoleRouter } from './console/index.js';
import { createEvents, type EventsModule } from './events/index.js';
import { Health } from './health/index.js';
import { httpMetrics, MeteredDriver, Metrics } from './metrics/index.js';
import { RegistryError } from './registry/errors.js';
import { Registry } from './registry/registry.js';
import { evictUnpulled } from './proxy/evict.js';
import type { ProxyModule } from './proxy/index.js';
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
  /** Undefined without `proxies`. */
  proxies?: ProxyModule;
  log: Logger;
  /** Every router, in order (tests walk their routes). */
  routers: HttpRouter[];
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

/** Logs one line per request once its connection is done with it (the root logger: no child). */
function logRequest(ctx: Koa.ParameterizedContext<AppState>, log: Logger, requestId: string): void {
  const started = process.hrtime.bigint();
  const remote = ctx.ip; // read now: it is gone once the socket closes
  ctx.res.once('close', () => {
    log.info(
      {
        requestId,
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
}

/** What gc's eviction would take now, for the admin dry run; undefined without pull-through caches. */
function evictionPreview(registry: Registry, config: Config): EvictionPreview | undefined {
  if (!config.proxies.some((p) => p.evictAfter !== '')) return undefined;
  return (onItem) => evictUnpulled(registry, config.proxies, { dryRun: true, onItem });
}

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
  // Auth and builds load only when configured (memory: see src/auth/open.ts, src/builds/load.ts).
  const auth =
    config.auth.mode === 'none'
      ? openAccess(config.auth, config.listen)
      : await (await import('./auth/index.js')).createAuth(config.auth, { driver, log, listen: config.listen, onLogin: (result) => metrics.authLogins.inc({ result }) });
  // A build's own thread opens the storage itself: only storage a second driver can share.
  const threadStorage = options.driver || config.storage.driver === 'memory' ? undefined : config.storage;
  const builds = await loadBuilds(config, {
    registry,
    driver,
    auth,
    log,
    threadStorage,
    onBuild: recorder.onBuild,
    observer: recorder.observer,
    onFinished: (result) => metrics.builds.inc({ result }),
  });
  // The pull-through caches (and their HTTP client, undici) load only when configured.
  const proxies = config.proxies.length === 0 ? undefined : (await import('./proxy/index.js')).createProxies(config, { registry, log, observer: metrics.proxyObserver });
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
    const requestId = given !== '' && REQUEST_ID.test(given) ? given : randomUUID();
    const state = new RequestState(log, requestId);
    state.bodyTimeoutMs = config.timeouts.body * 1000;
    state.origin = ctx.state.origin; // set by the trusted-proxies middleware before this one
    ctx.state = state;
    ctx.set('X-Request-Id', requestId);
    if (log.isLevelEnabled('info')) logRequest(ctx, log, requestId);
    await next();
  });
  koa.use(refuseUnreadablePath);
  if (config.readOnly) koa.use(readOnlyMiddleware);
  koa.use(apiVersionHeader);
  koa.use(auth.middleware);
  if (proxies) koa.use(proxies.middleware);

  // Paths no route serves, and methods no route on the path serves (405 with `Allow` from
  // allowedMethods, also for methods no router knows, such as PROPFIND), get the OCI error JSON.
  koa.use(async (ctx, next) => {
    await next();
    if (ctx.body != null) return;
    // allowedMethods answers 501 to a method no router knows even where no route matches the
    // path: without an Allow list, the path is what is unknown.
    const allow = ctx.response.get('Allow');
    if (ctx.status === 404 || (ctx.status === 501 && !allow)) throw new RegistryError('UNSUPPORTED', 'no such endpoint', { status: 404 });
    if (ctx.status === 405 || ctx.status === 501) {
      throw new RegistryError('UNSUPPORTED', `the method ${ctx.method} is not supported on this path`, { status: 405, headers: allow ? { Allow: allow } : {} });
    }
  });
  const routers = [
    health.router(),
    createApiRouter({ registry, config, onPull: recorder.onPull }),
    createRepositoriesRouter(registry, { pusher: events.pusher }),
    auth.router,
    events.router,
    createAdminRouter({ gc: new GcPreviewer(driver, config.gc, evictionPreview(registry, config)), robots: auth.robots }),
    createConsoleRouter({ config: config.console, auth: config.auth, readOnly: config.readOnly, linked: config.builds.repositories }),
  ];
  if (config.metrics.enabled && config.metrics.listen === '') routers.push(metrics.router());
  for (const router of routers) {
    koa.use(router.routes());
    koa.use(router.allowedMethods());
  }
  koa.use(builds.middleware);
  return { koa, registry, auth, builds, events, metrics, health, proxies, log, routers };
}
