/**
 * Read-only mode (`readOnly: true`), for maintenance and backups: pulls, tags, the catalog,
 * referrers, the build API's reads, probes, metrics and the token endpoint keep working; every
 * other request that could write (uploads, manifest PUT, deletes, webhook builds, build triggers
 * and cancels) is answered 405 UNSUPPORTED `registry is in read-only mode`, as Distribution does,
 * before anything else looks at it. It decides by method, so an endpoint added later is refused
 * until it is listed here as safe.
 */
import type { Middleware } from 'koa';
import { RegistryError } from '../registry/errors.js';
import type { AppState } from './context.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Writes nothing a read-only registry must keep unchanged: it signs a token. */
const SAFE_POSTS = new Set(['/token']);

export const READ_ONLY_MESSAGE = 'registry is in read-only mode';

export const readOnlyMiddleware: Middleware<AppState> = async (ctx, next) => {
  if (!SAFE_METHODS.has(ctx.method) && !(ctx.method === 'POST' && SAFE_POSTS.has(ctx.path))) {
    throw new RegistryError('UNSUPPORTED', READ_ONLY_MESSAGE, { status: 405 });
  }
  await next();
};
