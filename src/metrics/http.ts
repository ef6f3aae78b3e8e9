/**
 * The HTTP metrics middleware: one count and one duration per request when its response ends,
 * labelled with the route pattern the router matched (`/v2/*name/blobs/:digest`), never the path.
 */
import type { Middleware } from 'koa';
import type { AppState } from '../http/index.js';
import type { Metrics } from './index.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const BLOB_ROUTE = '/v2/*name/blobs/:digest';
/** Requests that carry blob bytes in (checked on the path: the route is known only later). */
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads(?:\/|$)/;
const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);

export function httpMetrics(metrics: Metrics): Middleware<AppState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const method = METHODS.has(ctx.method) ? ctx.method : 'other';
    // (ctx.path is null for a request target Node reads as an authority, `//##@x`: refused later.)
    const path: string = ctx.path ?? '';
    const uploading = UPLOAD_METHODS.has(method) && path.length < 1024 && UPLOAD_PATH.test(path);
    if (uploading) metrics.uploadsInProgress.inc();
    ctx.res.once('close', () => {
      if (uploading) metrics.uploadsInProgress.dec();
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = typeof matched === 'string' ? matched : 'unmatched';
      const status = ctx.res.headersSent ? ctx.res.statusCode : ctx.status;
      metrics.httpRequests.inc({ method, route, status: String(status) });
      metrics.httpDuration.observe({ method, route }, Number(process.hrtime.bigint() - started) / 1e9);
      if (route === BLOB_ROUTE && method === 'GET' && (status === 200 || status === 206) && ctx.res.writableFinished) {
        metrics.blobBytes.inc({ direction: 'out' }, ctx.response.length ?? 0);
      }
    });
    await next();
  };
}
