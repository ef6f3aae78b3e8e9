/**
 * `/api/repositories...` and `/api/usage`: what is stored, for people (the `berth repos|tags|du`
 * commands against a server, the console). Same rights as the registry API: a repository is
 * listed and shown only to callers who may pull it, and the check comes before any lookup, so an
 * unknown repository and one the caller may not see get the same answer.
 *
 * - `GET /api/repositories?q=&n=&last=&sort=name|pushed`: summaries (tags, size, last push), a
 *   page at a time. `sort=pushed` (newest first) reads the registry's index of last pushes
 *   (src/registry/recent.ts says how fresh it is); its `next` is an opaque cursor.
 * - `GET /api/repositories/<name>/tags?n=&last=`: tags with digest, pull size, platforms, when and
 *   (to signed-in callers, when the audit trail kept it) by whom they were pushed.
 * - `GET /api/repositories/<name>/manifests/<tag or digest>`: one image or index in detail
 *   (src/registry/details.ts).
 * - `GET /api/usage`: storage per repository (every repository for admins).
 */
import Router from '@koa/router';
import { type AppState, type HttpContext, type HttpRouter, queryValue, requestedPage, respondJson, routeRepositoryName } from '../http/index.js';
import { isDigest } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { checkTag } from '../registry/names.js';
import { comparePushed, type RecentEntry } from '../registry/recent.js';
import type { Registry } from '../registry/registry.js';

/** Summaries cost storage reads per repository: pages are bounded. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MAX_QUERY = 255;
const MAX_CURSOR = 300;

export interface RepositoriesDeps {
  /** Who pushed a tag last, when the audit trail kept it (src/events). */
  pusher?: (repository: string, tag: string) => Promise<string | undefined>;
}

function pageSize(ctx: HttpContext): number {
  const n = queryValue(ctx, 'n');
  if (n === undefined || n === '') return DEFAULT_PAGE;
  if (!/^\d{1,4}$/.test(n) || Number(n) < 1 || Number(n) > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be 1 to ${MAX_PAGE}`);
  return Number(n);
}

/** The cursor of `sort=pushed`: the last entry's push time and name (a name holds no `~`). */
function cursorOf(entry: RecentEntry): string {
  return `${entry.lastPush ?? ''}~${entry.name}`;
}

function parseCursor(text: string | undefined): RecentEntry | undefined {
  if (text === undefined) return undefined;
  const tilde = text.indexOf('~');
  if (text.length > MAX_CURSOR || tilde < 0) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'last: the next value of the page before');
  const lastPush = text.slice(0, tilde);
  return { name: text.slice(tilde + 1), tags: 0, ...(lastPush ? { lastPush } : {}) };
}

export function createRepositoriesRouter(registry: Registry, deps: RepositoriesDeps = {}): HttpRouter {
  const router = new Router<AppState>();

  router.get('/api/repositories', async (ctx) => {
    const query = queryValue(ctx, 'q') ?? '';
    if (query.length > MAX_QUERY) throw new RegistryError('NAME_INVALID', `q: at most ${MAX_QUERY} characters`);
    const sort = queryValue(ctx, 'sort') ?? 'name';
    if (sort !== 'name' && sort !== 'pushed') throw new RegistryError('UNSUPPORTED', 'sort: name or pushed', { status: 400 });
    const canRead = ctx.state.permissions.readable();
    let names: string[];
    let next: string | undefined;
    if (sort === 'pushed') {
      const n = pageSize(ctx);
      const after = parseCursor(queryValue(ctx, 'last'));
      await ctx.state.permissions.authenticate();
      const page: RecentEntry[] = [];
      for (const entry of await registry.recent.list()) {
        if (after && comparePushed(entry, after) <= 0) continue;
        if (!entry.name.includes(query) || (canRead && !(await canRead(entry.name)))) continue;
        if (page.length === n) {
          next = cursorOf(page[page.length - 1]!);
          break;
        }
        page.push(entry);
      }
      names = page.map((entry) => entry.name);
      if (next) ctx.set('Link', `</api/repositories?sort=pushed&n=${n}&last=${encodeURIComponent(next)}${query ? `&q=${encodeURIComponent(query)}` : ''}>; rel="next"`);
    } else {
      const all = (await registry.catalog(canRead)).filter((name) => name.includes(query));
      const page = requestedPage(ctx, all, query ? `/api/repositories?q=${encodeURIComponent(query)}` : '/api/repositories', DEFAULT_PAGE);
      if (page.items.length > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n: at most ${MAX_PAGE}`);
      names = page.items;
      next = page.next;
    }
    const repositories = await Promise.all(names.map((name) => registry.inventory.summary(name)));
    respondJson(ctx, { repositories, ...(next ? { next } : {}) });
  });

  router.get('/api/repositories/*name/tags', async (ctx) => {
    const name = routeRepositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    const all = await registry.manifests.tags(name); // NAME_UNKNOWN for a repository that does not exist
    const page = requestedPage(ctx, all, `/api/repositories/${name}/tags`, DEFAULT_PAGE);
    if (page.items.length > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n: at most ${MAX_PAGE}`);
    const tags = await registry.inventory.tags(name, page.items);
    // Events name people: anonymous callers see no pushers (as at /api/events).
    const pusher = ctx.state.permissions.subject === 'anonymous' ? undefined : deps.pusher;
    if (pusher) {
      const by = await Promise.all(tags.map((t) => pusher(name, t.tag).catch(() => undefined)));
      tags.forEach((t, i) => {
        if (by[i]) t.pushedBy = by[i];
      });
    }
    respondJson(ctx, { name, tags, ...(page.next ? { next: page.next } : {}) });
  });

  router.get('/api/repositories/*name/manifests/:reference', async (ctx) => {
    const name = routeRepositoryName(ctx);
    const reference = ctx.params.reference ?? '';
    await ctx.state.permissions.require(name, ['pull']);
    if (!isDigest(reference)) checkTag(reference);
    respondJson(ctx, await registry.details.read(name, reference));
  });

  router.get('/api/usage', async (ctx) => {
    // Admins see every repository; others those they may pull.
    const names = (await ctx.state.permissions.admin()) ? undefined : await registry.catalog(ctx.state.permissions.readable());
    respondJson(ctx, await registry.inventory.usage(names));
  });
  return router;
}
