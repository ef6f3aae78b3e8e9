/** Writing a response: empty and JSON bodies, and ETags for content named by its digest. */
import type { HttpContext } from './context.js';

/** Ends the response with a status and no body (Content-Length: 0). */
export function respondEmpty(ctx: HttpContext, status: number): void {
  ctx.body = null;
  ctx.status = status;
}

/** A JSON body with exactly the given Content-Type (no charset parameter). */
export function respondJson(ctx: HttpContext, value: unknown, type = 'application/json'): void {
  ctx.status = 200;
  ctx.body = Buffer.from(JSON.stringify(value));
  ctx.set('Content-Type', type);
}

/** A strong ETag for content named by its digest. */
export function etag(digest: string): string {
  return `"${digest}"`;
}

/** Answers 304 when the client already holds this digest; true when it did. */
export function notModified(ctx: HttpContext, digest: string): boolean {
  const header = ctx.get('If-None-Match');
  if (!header) return false;
  const tags = header.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (!tags.includes(etag(digest)) && !tags.includes('*')) return false;
  ctx.body = null;
  ctx.status = 304;
  return true;
}
