/** Reading a request: query values, its declared length, and small bodies read whole with a limit and a deadline. */
import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { RegistryError } from '../registry/errors.js';
import { checkName } from '../registry/names.js';
import type { HttpContext } from './context.js';

/**
 * Refuses a request target Koa cannot read a path from: Node's URL parser takes `//##@x` or
 * `/\\@x` for an authority, and `ctx.path` is then null, which no route or middleware expects.
 */
export const refuseUnreadablePath: Middleware = async (ctx, next) => {
  if (typeof ctx.path !== 'string') throw new RegistryError('UNSUPPORTED', 'malformed request target: no path can be read from it', { status: 400 });
  await next();
};

/**
 * The repository name of a route with a `*name` parameter, checked against the grammar. The
 * router decodes the path, so `a%2Fb` would arrive as `a/b`: an encoded slash is refused instead
 * (RFC 3986 makes `%2F` data inside one path segment, not a separator, and a name component cannot
 * hold a `/`). Distribution accepts it (its router matches the decoded path), but no client sends
 * one, and two spellings of one repository would let a request slip past path rules in a proxy
 * in front of Berth that does not decode.
 */
export function routeRepositoryName(ctx: HttpContext): string {
  if (/%2f/i.test(ctx.path)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name: an encoded slash (%2F) in the path; write the slashes between name components as plain /', {
      detail: { path: ctx.path.slice(0, 300) },
    });
  }
  return checkName(ctx.params.name ?? '');
}

/** One query value (the first when repeated), or undefined. */
export function queryValue(ctx: HttpContext, key: string): string | undefined {
  const value = ctx.query[key];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * One query value with `+` read as `+`, not as a space: for values that are media types
 * (`application/spdx+json`), which clients send unencoded. Percent escapes are decoded.
 */
export function mediaTypeQueryValue(ctx: HttpContext, key: string): string | undefined {
  for (const pair of ctx.querystring.split('&')) {
    const at = pair.indexOf('=');
    if ((at < 0 ? pair : pair.slice(0, at)) !== key) continue;
    const raw = at < 0 ? '' : pair.slice(at + 1);
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw; // a malformed escape: the text as sent
    }
  }
  return undefined;
}

/** Every value of a repeated query key. */
export function queryValues(ctx: HttpContext, key: string): string[] {
  const value = ctx.query[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The request's Content-Length, when it gave one. */
export function contentLength(ctx: HttpContext): number | undefined {
  const header = ctx.get('Content-Length');
  if (!header) return undefined;
  if (!/^\d+$/.test(header)) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return Number(header);
}

/** Whether the request carries a body (a non-zero Content-Length or a chunked body). */
export function hasBody(ctx: HttpContext): boolean {
  const length = contentLength(ctx);
  if (length !== undefined) return length > 0;
  return ctx.get('Transfer-Encoding') !== '';
}

/** Whether the request declared a body that has not been read to its end. */
export function bodyUnread(req: IncomingMessage): boolean {
  if (req.readableEnded) return false;
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** What a small body's reader may be told besides its limit. */
export interface SmallBodyOptions {
  /** Sees every chunk as it arrives (hashing while the body streams, say). */
  onChunk?: (chunk: Buffer) => void;
}

/**
 * Reads a small body whole, failing with `tooLarge()` once past `limit` bytes, and with 408 when
 * it has not all arrived within the body deadline (`ctx.state.bodyTimeoutMs`): a client may not
 * hold a connection and a buffer by sending slowly or not at all. On either failure the rest of
 * the body is not read: the answer goes out at once and the connection is closed after it.
 */
export async function readSmallBody(ctx: HttpContext, limit: number, tooLarge: () => Error, options: SmallBodyOptions = {}): Promise<Buffer> {
  const declared = contentLength(ctx);
  const refuse = (error: Error): Error => {
    ctx.set('Connection', 'close');
    return error;
  };
  if (declared !== undefined && declared > limit) throw refuse(tooLarge());
  const deadlineMs = ctx.state.bodyTimeoutMs ?? 30_000;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const req = ctx.req;
    const stop = (): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const fail = (error: Error): void => {
      stop();
      req.pause();
      reject(refuse(error));
    };
    const timer = setTimeout(() => fail(new RegistryError('UNSUPPORTED', `the request body did not arrive within ${Math.round(deadlineMs / 1000)}s`, { status: 408 })), deadlineMs);
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) return fail(tooLarge());
      options.onChunk?.(chunk);
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    req.on('data', onData).once('end', onEnd).once('error', onError);
  });
}
