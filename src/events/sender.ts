/**
 * One delivery: an event POSTed to an endpoint in its format, signed, with its headers, within
 * its timeout. Only a 2xx answer delivers; a redirect is not followed (the signed body would go
 * wherever the endpoint points) and counts as a failure that names where it pointed.
 */
import type { EndpointConfig } from './config.js';
import type { EventRecord } from './event.js';
import { render, SIGNATURE_HEADER, signature } from './formats.js';

export interface DeliveryOutcome {
  ok: boolean;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** Why it failed, in one line. */
  error?: string;
  /** The start of the answer's body, when asked for (`berth events test`). */
  body?: string;
  ms: number;
}

export type Sender = (endpoint: EndpointConfig, event: EventRecord, signal?: AbortSignal) => Promise<DeliveryOutcome>;

const BODY_SHOWN = 4096;

/** The first `limit` bytes of a response body; the rest is not read. */
async function bodyStart(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function why(err: unknown): string {
  const error = err as Error & { cause?: Error & { code?: string } };
  if (error.name === 'TimeoutError') return 'no answer within the timeout';
  if (error.name === 'AbortError') return 'stopped (Berth shutting down)';
  const cause = error.cause;
  return cause ? `${cause.code ?? cause.name}: ${cause.message}` : error.message;
}

export async function send(endpoint: EndpointConfig, event: EventRecord, signal?: AbortSignal, keepBody = false): Promise<DeliveryOutcome> {
  const started = Date.now();
  const { contentType, body } = render(endpoint.format, event);
  const headers = new Headers(endpoint.headers);
  headers.set('Content-Type', contentType);
  headers.set('X-Berth-Event-Id', event.id);
  if (!headers.has('User-Agent')) headers.set('User-Agent', 'Berth-Notifications');
  if (endpoint.secret) headers.set(SIGNATURE_HEADER, signature(endpoint.secret, body));
  const timeout = AbortSignal.timeout(endpoint.timeoutMs);
  try {
    const res = await fetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    const shown = keepBody ? await bodyStart(res, BODY_SHOWN) : undefined;
    if (!keepBody) await res.body?.cancel().catch(() => {});
    const ok = res.status >= 200 && res.status < 300;
    let error: string | undefined;
    if (!ok) {
      const location = res.headers.get('Location');
      error = res.status >= 300 && res.status < 400 ? `redirected${location ? ` to ${location.slice(0, 200)}` : ''}: configure the URL it points to` : `answered ${res.status}`;
    }
    return { ok, status: res.status, ...(error ? { error } : {}), ...(shown !== undefined ? { body: shown } : {}), ms: Date.now() - started };
  } catch (err) {
    return { ok: false, error: why(err), ms: Date.now() - started };
  }
}
