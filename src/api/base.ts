/** `GET /v2/`: the API version check, and the version header on every `/v2` answer. */
import type { Middleware } from 'koa';
import { type AppState, type HttpRouter, respondJson } from '../http/index.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

/** Sets the version header on every `/v2` response, errors and challenges included (so it runs before auth). */
export const apiVersionHeader: Middleware<AppState> = async (ctx, next) => {
  if (ctx.path === '/v2' || ctx.path.startsWith('/v2/')) ctx.set(API_VERSION_HEADER, 'registry/2.0');
  await next();
};

export function registerBaseRoutes(router: HttpRouter): void {
  router.get(['/v2/', '/v2'], async (ctx) => {
    await ctx.state.permissions.requireAuthenticated();
    respondJson(ctx, {});
  });
}
