/** `GET /v2/_catalog`: the repositories the caller may pull, with `n`/`last` pagination. */
import type { ApiDeps } from './deps.js';
import { type HttpRouter, respondJson, requestedPage } from '../http/index.js';

export function registerCatalogRoutes(router: HttpRouter, { registry }: ApiDeps): void {
  router.get('/v2/_catalog', async (ctx) => {
    await ctx.state.permissions.requireCatalog();
    const page = requestedPage(ctx, await registry.catalog(ctx.state.permissions.readable()), '/v2/_catalog');
    respondJson(ctx, { repositories: page.items });
  });
}
