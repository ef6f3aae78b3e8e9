/**
 * A minimal HTTP client over node:http: streamed request bodies, and responses either read whole
 * (small), hashed and discarded (blobs), or just drained. One keep-alive agent per caller.
 */
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** A Buffer is sent with its length; a stream is sent as given (chunked unless Content-Length is set). */
  body?: Buffer | Readable;
  /** What to do with the response body: keep it (default), hash it, or throw it away. */
  read?: 'buffer' | 'hash' | 'discard';
  agent?: Agent;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** sha256 digest of the body, when read: 'hash'. */
  digest?: string;
  bytes: number;
}

export function keepAliveAgent(maxSockets = 16): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

const defaultAgent = keepAliveAgent(16);

async function consume(res: IncomingMessage, read: RequestOptions['read']): Promise<Omit<HttpResponse, 'status' | 'headers'>> {
  if (read === 'hash') {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { body: Buffer.alloc(0), digest: `sha256:${hash.digest('hex')}`, bytes };
  }
  if (read === 'discard') {
    let bytes = 0;
    for await (const chunk of res) bytes += (chunk as Buffer).length;
    return { body: Buffer.alloc(0), bytes };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return { body, bytes: body.length };
}

export function request(url: string | URL, options: RequestOptions = {}): Promise<HttpResponse> {
  const { method = 'GET', body, read = 'buffer', agent = defaultAgent } = options;
  const headers: Record<string, string | number> = { ...options.headers };
  if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
  else if (body === undefined && method !== 'GET' && method !== 'HEAD') headers['Content-Length'] ??= 0;
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent }, (res) => {
      consume(res, method === 'HEAD' ? 'discard' : read).then(
        (rest) => resolve({ status: res.statusCode ?? 0, headers: res.headers, ...rest }),
        reject,
      );
    });
    req.once('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch(reject);
  });
}

/** Throws with the response's status and body when the status is not the expected one. */
export function expectStatus(res: HttpResponse, expected: number | number[], what: string): HttpResponse {
  const allowed = Array.isArray(expected) ? expected : [expected];
  if (!allowed.includes(res.status)) {
    throw new Error(`${what}: expected HTTP ${allowed.join(' or ')}, got ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
  }
  return res;
}

export function header(res: HttpResponse, name: string): string {
  const value = res.headers[name.toLowerCase()];
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) throw new Error(`response has no ${name} header`);
  return text;
}
