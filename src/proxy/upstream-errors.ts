/**
 * What can go wrong with an upstream registry, classified once: the reason (a metric label and
 * what decides between serving a cached copy and failing), a message that names the upstream and
 * its answer (never a credential or token), and the error Berth's own client gets on a cold miss.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type ErrorCode, RegistryError } from '../registry/errors.js';

export type UpstreamReason =
  | 'unreachable'
  | 'timeout'
  | 'truncated'
  | 'status_401'
  | 'status_403'
  | 'status_404'
  | 'status_429'
  | 'status_5xx'
  | 'status_other'
  | 'digest_mismatch'
  | 'invalid';

export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly reason: UpstreamReason,
    message: string,
    readonly status?: number,
    /** From a 429's or 503's Retry-After, capped. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** The upstream answered that the thing does not exist: an answer, not a failure. */
  get notFound(): boolean {
    return this.reason === 'status_404';
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const MAX_RETRY_AFTER_MS = 10 * 60_000;

function reasonOf(status: number): UpstreamReason {
  if (status === 401 || status === 403 || status === 404 || status === 429) return `status_${status}`;
  return status >= 500 ? 'status_5xx' : 'status_other';
}

/** Printable ASCII, at most 200 characters: an upstream's words are quoted, never trusted. */
function quote(text: string): string {
  let clean = '';
  for (const char of text.slice(0, 400)) clean += char >= ' ' && char <= '~' ? char : ' ';
  return clean.trim().slice(0, 200);
}

function retryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : (Date.parse(text) - Date.now()) / 1000;
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS) : undefined;
}

/** At most `max` bytes of a body; more fails (the rest is not read). */
export async function readCapped(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new RangeError(`more than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An error for a non-success answer, with the upstream's own message when it sent the OCI error JSON. */
export async function statusError(upstream: string, res: Dispatcher.ResponseData, what: string): Promise<UpstreamError> {
  let said = '';
  try {
    const body = JSON.parse((await readCapped(res.body, 8192)).toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = body.errors?.[0];
    if (first && (typeof first.code === 'string' || typeof first.message === 'string')) said = `: ${quote([first.code, first.message].filter((v) => typeof v === 'string').join(' '))}`;
  } catch {
    res.body.destroy();
  }
  const status = res.statusCode;
  return new UpstreamError(upstream, reasonOf(status), `upstream ${upstream} answered ${status} for ${what}${said}`, status, retryAfter(res.headers['retry-after']));
}

/** An error for a request that got no answer (refused, reset, timed out). */
export function transportError(upstream: string, err: unknown, what: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return new UpstreamError(upstream, 'timeout', `upstream ${upstream} did not answer in time for ${what}`);
  const cause = code || quote((err as Error | undefined)?.message ?? 'failed');
  return new UpstreamError(upstream, 'unreachable', `upstream ${upstream} could not be reached for ${what} (${cause})`);
}

/** An error while a body streams in: cut short, stalled, or reset. */
export function bodyError(upstream: string, err: unknown, what: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return new UpstreamError(upstream, 'timeout', `upstream ${upstream} stopped sending ${what}`);
  return new UpstreamError(upstream, 'truncated', `upstream ${upstream} ended ${what} early (${code || 'connection closed'})`);
}

/**
 * What Berth's client gets when nothing cached can stand in: the upstream's 404 as the resource's
 * own unknown code, its 429 as 429, its refusal of Berth's credentials as 502 (Berth's client can
 * do nothing about them), and no answer or a broken one as 502/504.
 */
export function clientError(err: UpstreamError, unknownCode: ErrorCode): RegistryError {
  const detail = { upstream: err.upstream, ...(err.status ? { status: err.status } : {}) };
  switch (err.reason) {
    case 'status_404':
      return new RegistryError(unknownCode, err.message, { detail });
    case 'status_429': {
      const headers: Record<string, string> = err.retryAfterMs ? { 'Retry-After': String(Math.ceil(err.retryAfterMs / 1000)) } : {};
      return new RegistryError('TOOMANYREQUESTS', `${err.message}; nothing of it is cached here yet`, { detail, headers });
    }
    case 'timeout':
      return new RegistryError('UNAVAILABLE', `${err.message}; nothing of it is cached here yet`, { status: 504, detail });
    default:
      return new RegistryError('UNAVAILABLE', `${err.message}; nothing of it is cached here yet`, { status: 502, detail });
  }
}
