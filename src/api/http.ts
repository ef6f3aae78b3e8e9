/** Small HTTP helpers shared by the route modules: params, query values, headers, bodies. */
import type { Router, RouterContext } from '@koa/router';
import type { Logger } from 'pino';
import type { Permissions } from '../auth/permissions.js';
import type { Config } from '../config.js';
import { RegistryError } from '../registry/errors.js';
import { checkName } from '../registry/names.js';
import type { Registry } from '../registry/registry.js';

export interface AppState {
  log: Logger;
  requestId: string;
  permissions: Permissions;
}

export type ApiContext = RouterContext<AppState>;
export type ApiRouter = Router<AppState>;

export interface ApiDeps {
  registry: Registry;
  config: Config;
}

/** The repository name from the route, checked against the grammar. */
export function repositoryName(ctx: ApiContext): string {
  return checkName(ctx.params.name ?? '');
}

/** One query value (the first when repeated), or undefined. */
export function queryValue(ctx: ApiContext, key: string): string | undefined {
  const value = ctx.query[key];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a repeated query key. */
export function queryValues(ctx: ApiContext, key: string): string[] {
  const value = ctx.query[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Ends the response with a status and no body (Content-Length: 0). */
export function respondEmpty(ctx: ApiContext, status: number): void {
  ctx.body = null;
  ctx.status = status;
}

/** A JSON body with exactly the given Content-Type (no charset parameter). */
export function respondJson(ctx: ApiContext, value: unknown, type = 'application/json'): void {
  ctx.status = 200;
  ctx.body = Buffer.from(JSON.stringify(value));
  ctx.set('Content-Type', type);
}

/** The request's Content-Length, when it gave one. */
export function contentLength(ctx: ApiContext): number | undefined {
  const header = ctx.get('Content-Length');
  if (!header) return undefined;
  if (!/^\d+$/.test(header)) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return Number(header);
}

/** Whether the request carries a body (a non-zero Content-Length or a chunked body). */
export function hasBody(ctx: ApiContext): boolean {
  const length = contentLength(ctx);
  if (length !== undefined) return length > 0;
  return ctx.get('Transfer-Encoding') !== '';
}

/**
 * Reads a small body whole, failing with `tooLarge()` once past `limit` bytes. The rest of an
 * oversize body is not read: the answer goes out at once and the connection is closed after it.
 */
export async function readSmallBody(ctx: ApiContext, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = contentLength(ctx);
  const refuse = (): Error => {
    ctx.set('Connection', 'close');
    return tooLarge();
  };
  if (declared !== undefined && declared > limit) throw refuse();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const req = ctx.req;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        req.off('data', onData).off('end', onEnd).off('error', onError);
        req.pause();
        reject(refuse());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks));
    const onError = (err: Error): void => reject(err);
    req.on('data', onData).once('end', onEnd).once('error', onError);
  });
}

/** A strong ETag for content named by its digest. */
export function etag(digest: string): string {
  return `"${digest}"`;
}

/** Answers 304 when the client already holds this digest; true when it did. */
export function notModified(ctx: ApiContext, digest: string): boolean {
  const header = ctx.get('If-None-Match');
  if (!header) return false;
  const tags = header.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (!tags.includes(etag(digest)) && !tags.includes('*')) return false;
  ctx.body = null;
  ctx.status = 304;
  return true;
}
