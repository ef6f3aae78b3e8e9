/** `GET /v2/`: the API version check. */
import { type ApiRouter, respondJson } from './http.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

export function registerBaseRoutes(router: ApiRouter): void {
  router.get(['/v2/', '/v2'], async (ctx) => {
    await ctx.state.permissions.requireAuthenticated();
    respondJson(ctx, {});
  });
}
