/**
 * The one table of error codes (message and HTTP status) and the one renderer of the OCI error
 * envelope `{"errors":[{"code","message","detail"}]}`. The error middleware (first in the chain)
 * turns every thrown error into that envelope; an unexpected error is logged with its stack and
 * answered 500 without internals.
 */
import type { Context, Next } from 'koa';
import { InvalidPathError, StorageUnavailableError } from '../../storage-drivers/driver.js';
import { type ErrorCode, RegistryError } from '../registry/errors.js';
import { bodyUnread } from './request.js';

export interface ErrorCodeInfo {
  status: number;
  description: string;
}

export const ERROR_CODES: Record<ErrorCode, ErrorCodeInfo> = {
  BLOB_UNKNOWN: { status: 404, description: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, description: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, description: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, description: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, description: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, description: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, description: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, description: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, description: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, description: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, description: 'authentication required' },
  DENIED: { status: 403, description: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, description: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, description: 'too many requests' },
  TAG_INVALID: { status: 400, description: 'manifest tag did not match URI' },
  PAGINATION_NUMBER_INVALID: { status: 400, description: 'invalid number of results requested' },
  RANGE_INVALID: { status: 416, description: 'invalid content range' },
  UNAVAILABLE: { status: 503, description: 'storage (or an upstream) unavailable: retry later' },
  UNKNOWN: { status: 500, description: 'unknown error' },
};

/** Renders the envelope as bytes, so Content-Type stays exactly `application/json`. */
export function errorBody(code: ErrorCode, message: string, detail?: unknown): Buffer {
  const error: Record<string, unknown> = { code, message };
  if (detail !== undefined) error.detail = detail;
  return Buffer.from(JSON.stringify({ errors: [error] }));
}

function fromKoa(err: { status?: number; expose?: boolean; message?: string }): RegistryError | undefined {
  const status = err.status;
  if (status === 405 || status === 501) return new RegistryError('UNSUPPORTED', 'the method is not supported on this path', { status: 405 });
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (status === 413) return new RegistryError('SIZE_INVALID', 'request body too large', { status: 413 });
  return new RegistryError('UNSUPPORTED', err.expose && err.message ? err.message : 'bad request', { status });
}

/** Error codes of a client that went away mid-request (its body ended early, say). */
export const CLIENT_GONE: ReadonlySet<string> = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'ECONNABORTED']);

export function isClientGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && CLIENT_GONE.has(code);
}

/** Turns an error into the registry error it is, or undefined when it is unexpected. */
export function toRegistryError(err: unknown): RegistryError | undefined {
  if (err instanceof RegistryError) return err;
  if (isClientGone(err)) return new RegistryError('BLOB_UPLOAD_INVALID', 'the request ended before its body did', { status: 400 });
  if (err instanceof InvalidPathError) return new RegistryError('NAME_INVALID', 'invalid name or reference');
  if (err instanceof StorageUnavailableError) {
    return new RegistryError('UNAVAILABLE', 'the storage backend failed; the request may be retried', { status: 503, cause: err });
  }
  if (typeof err === 'object' && err !== null) return fromKoa(err as { status?: number });
  return undefined;
}

export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const known = toRegistryError(err);
    // A proxy's upstream failing (502, 504) is logged by src/proxy, which knows more about it.
    if (!known || (known.code === 'UNAVAILABLE' && known.status !== 502 && known.status !== 504)) {
      ctx.state.log?.error({ err }, !known ? 'unexpected error' : known.cause instanceof StorageUnavailableError ? 'storage failed' : 'a backend failed');
    }
    const error = known ?? new RegistryError('UNKNOWN', 'internal server error');
    const status = error.status ?? ERROR_CODES[error.code].status;
    // A body the request declared and nobody read (refused before reading it, or half-read): the
    // connection ends after the answer, rather than Node reading on and discarding what comes.
    if (bodyUnread(ctx.req)) ctx.set('Connection', 'close');
    // Koa keeps headers set before the throw; keep the general ones, drop body-specific ones.
    for (const header of ['Content-Range', 'Content-Disposition', 'Docker-Content-Digest', 'Location', 'ETag']) ctx.remove(header);
    ctx.set(error.headers);
    if (ctx.method === 'HEAD') {
      ctx.body = null; // before the status: Koa turns a null body into 204 otherwise
      ctx.status = status;
      return;
    }
    ctx.status = status;
    ctx.set('Content-Type', 'application/json'); // exactly: `ctx.type` would add a charset
    ctx.body = errorBody(error.code, error.message, error.detail);
  }
}
