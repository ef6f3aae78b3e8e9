/** The `n`/`last` query and the `Link` header of paginated lists (tags, catalog, repositories). */
import { RegistryError } from '../registry/errors.js';
import { type Page, paginate } from '../registry/pagination.js';
import type { HttpContext } from './context.js';
import { queryValue } from './request.js';

function pageSize(ctx: HttpContext): number | undefined {
  const n = queryValue(ctx, 'n');
  if (n === undefined || n === '') return undefined;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative whole number', { detail: { n: n.slice(0, 20) } });
  return Number(n);
}

/**
 * The page of `sorted` the request asks for, setting the RFC 8288 `Link` header to the next page
 * when there is one.
 */
export function requestedPage(ctx: HttpContext, sorted: string[], path: string, defaultSize?: number): Page {
  const n = pageSize(ctx) ?? defaultSize;
  const page = paginate(sorted, n, queryValue(ctx, 'last'));
  // `path` may carry its own query (a search): the next page keeps it.
  if (page.next !== undefined && n !== undefined) ctx.set('Link', `<${path}${path.includes('?') ? '&' : '?'}n=${n}&last=${encodeURIComponent(page.next)}>; rel="next"`);
  return page;
}
