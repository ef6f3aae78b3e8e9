/**
 * `/api/repositories...` and `/api/usage`: what is stored, for people (the `berth repos|tags|du`
 * commands against a server, the console). Same rights as the registry API: a repository is
 * listed and shown only to callers who may pull it, and the check comes before any lookup, so an
 * unknown repository and one the caller may not see get the same answer.
 */
import Router from '@koa/router';
import { type AppState, type HttpRouter, queryValue, requestedPage, respondJson, routeRepositoryName } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import type { Registry } from '../registry/registry.js';

/** Summaries cost storage reads per repository: pages are bounded. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MAX_QUERY = 255;

export function createRepositoriesRouter(registry: Registry): HttpRouter {
  const router = new Router<AppState>();
  router.get('/api/repositories', async (ctx) => {
    const query = queryValue(ctx, 'q') ?? '';
    if (query.length > MAX_QUERY) throw new RegistryError('NAME_INVALID', `q: at most ${MAX_QUERY} characters`);
    const names = (await registry.catalog(ctx.state.permissions.readable())).filter((name) => name.includes(query));
    const page = requestedPage(ctx, names, '/api/repositories', DEFAULT_PAGE);
    if (page.items.length > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n: at most ${MAX_PAGE}`);
    const repositories = [];
    for (const name of page.items) repositories.push(await registry.inventory.summary(name));
    respondJson(ctx, { repositories, ...(page.next ? { next: page.next } : {}) });
  });

  router.get('/api/repositories/*name/tags', async (ctx) => {
    const name = routeRepositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    await registry.manifests.tags(name); // NAME_UNKNOWN for a repository that does not exist
    respondJson(ctx, { name, tags: await registry.inventory.tags(name) });
  });

  router.get('/api/usage', async (ctx) => {
    const names = await registry.catalog(ctx.state.permissions.readable());
    respondJson(ctx, await registry.inventory.usage(names));
  });
  return router;
}
