/**
 * createApp(config) -> the Koa app, never listening. Middleware order:
 * errors (first, so every failure becomes the OCI error JSON: src/http/errors.ts) -> request id +
 * log -> API version header (src/api) -> auth (who may do what: src/auth) -> routes: /v2 (src/api),
 * /token (src/auth), /webhooks and /api/builds (src/builds).
 *
 * The route modules share the HTTP kit in src/http and reach storage only through the registry
 * layer (src/registry), which knows nothing of HTTP; generic helpers live in src/util.
 */
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { errorMiddleware, isClientGone, RequestState, type AppState } from './http/index.js';
import { apiVersionHeader, createApiRouter } from './api/index.js';
import type { AuthModule } from './auth/index.js';
import { openAccess } from './auth/open.js';
import type { BuildsModule } from './builds/index.js';
import { loadBuilds } from './builds/load.js';
import type { Config } from './config.js';
import { RegistryError } from './registry/errors.js';
import { Registry } from './registry/registry.js';
import { createStorageDriver } from './storage.js';

export interface App {
  koa: Koa<AppState>;
  registry: Registry;
  auth: AuthModule;
  builds: BuildsModule;
  log: Logger;
}

export interface AppOptions {
  log: Logger;
  /** A driver to use instead of the one the config names (tests). */
  driver?: StorageDriver;
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

export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const { log } = options;
  const driver = options.driver ?? (await createStorageDriver(config.storage));
  const registry = new Registry(driver, { ...config.limits }, log);
  // Auth and builds load only when configured (memory: see src/auth/open.ts, src/builds/load.ts).
  const auth = config.auth.mode === 'none' ? openAccess() : await (await import('./auth/index.js')).createAuth(config.auth, { driver, log });
  const builds = await loadBuilds(config, { registry, driver, auth, log });
  const koa = new Koa<AppState>({ proxy: false });
  // Errors after the response started end here: log, no reply. A client that closes the
  // connection early (or right after reading the last byte, as Go clients do) is no fault.
  koa.on('error', (err: Error) => {
    const clientGone = isClientGone(err);
    log[clientGone ? 'debug' : 'warn']({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, clientGone ? 'client closed the connection' : 'response stream failed');
  });

  koa.use(errorMiddleware);
  koa.use(async (ctx, next) => {
    const given = ctx.get('X-Request-Id');
    const requestId = given !== '' && REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state = new RequestState(log, requestId);
    ctx.set('X-Request-Id', requestId);
    if (log.isLevelEnabled('info')) logRequest(ctx, log, requestId);
    await next();
  });
  koa.use(apiVersionHeader);
  koa.use(auth.middleware);

  // Paths no route serves get the OCI error JSON too (wrong methods: 405 from allowedMethods).
  koa.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body == null) throw new RegistryError('UNSUPPORTED', 'no such endpoint', { status: 404 });
  });
  for (const router of [createApiRouter({ registry, config }), auth.router]) {
    koa.use(router.routes());
    koa.use(router.allowedMethods({ throw: true }));
  }
  koa.use(builds.middleware);
  return { koa, registry, auth, builds, log };
}
