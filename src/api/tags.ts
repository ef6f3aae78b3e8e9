/** `GET /v2/<name>/tags/list`, with `n`/`last` pagination. */
import { type ApiDeps, repositoryName } from './deps.js';
import { type HttpRouter, respondJson, requestedPage } from '../http/index.js';

export function registerTagRoutes(router: HttpRouter, { registry }: ApiDeps): void {
  router.get('/v2/*name/tags/list', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    const page = requestedPage(ctx, await registry.manifests.tags(name), `/v2/${name}/tags/list`);
    respondJson(ctx, { name, tags: page.items });
  });
}
