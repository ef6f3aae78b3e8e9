/**
 * `GET /api/events` (the audit trail) and `GET /api/repositories/<name>/tags/<tag>/history`
 * (every digest a tag pointed to, when and by whom). Rights: a signed-in caller (events name
 * people and client addresses: anonymous callers see none), and only events of repositories the
 * caller may pull (admins: all); with auth off, everyone sees everything.
 *
 * The history route sits beside `/api/repositories/*name/tags` (src/repositories/api.ts): that
 * one ends in `/tags`, this one in `/tags/<tag>/history`, and a tag has no `/`, so neither path
 * can be read as the other whatever the repository name.
 */
import Router from '@koa/router';
import { type AppState, type HttpContext, type HttpRouter, queryValue, respondJson } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import { checkName, checkTag } from '../registry/names.js';
import { parseDuration } from '../util/index.js';
import { checkQuery, queryEvents, QueryError, tagHistory } from './query.js';
import type { EventStore } from './store.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function badQuery(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

/** A page size from `n` (1 to MAX_PAGE). */
function pageSize(ctx: HttpContext): number {
  const n = queryValue(ctx, 'n');
  if (n === undefined) return DEFAULT_PAGE;
  if (!/^\d{1,4}$/.test(n) || Number(n) < 1 || Number(n) > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be 1 to ${MAX_PAGE}`);
  return Number(n);
}

/** Anonymous callers see no events, whatever they may pull. */
async function requireSignedIn(ctx: HttpContext): Promise<void> {
  await ctx.state.permissions.requireAuthenticated();
  if (ctx.state.permissions.subject === 'anonymous') throw new RegistryError('DENIED', 'events are shown to signed-in callers only', { status: 403 });
}

export function createEventsRouter(store: EventStore): HttpRouter {
  const router = new Router<AppState>();

  router.get('/api/events', async (ctx) => {
    const repository = queryValue(ctx, 'repository');
    const action = queryValue(ctx, 'action');
    const last = queryValue(ctx, 'last');
    const sinceText = queryValue(ctx, 'since');
    const since = sinceText === undefined ? undefined : parseDuration(sinceText);
    if (sinceText !== undefined && since === undefined) throw badQuery('since: a duration like 30m, 24h or 7d');
    const limit = pageSize(ctx);
    try {
      checkQuery({ repository, action, before: last });
    } catch (err) {
      if (err instanceof QueryError) throw badQuery(err.message);
      throw err;
    }
    await requireSignedIn(ctx);
    const page = await queryEvents(store, {
      repository,
      action,
      before: last,
      limit,
      ...(since !== undefined ? { since: new Date(Date.now() - since) } : {}),
      // Admins see every event (deleted repositories' too); others those of what they may pull.
      canRead: (await ctx.state.permissions.admin()) ? undefined : ctx.state.permissions.readable(),
    });
    respondJson(ctx, page);
  });

  router.get('/api/repositories/*name/tags/:tag/history', async (ctx) => {
    const name = checkName(ctx.params.name ?? '');
    const tag = checkTag(ctx.params.tag ?? '');
    await ctx.state.permissions.require(name, ['pull']);
    await requireSignedIn(ctx);
    const history = await tagHistory(store, name, tag, pageSize(ctx));
    respondJson(ctx, { name, tag, history });
  });
  return router;
}
