/**
 * HTTP for hostile-input and load tests: any method Node's parser knows (fetch refuses TRACE and
 * CONNECT), any path (characters outside what a request line may carry are percent-encoded,
 * nothing else is touched), and raw bytes on a socket for what is no valid request at all.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Send this many bytes of the body, then drop the connection. */
  abortAfter?: number;
  /** Give up (and fail) after this many ms. Default 10 s. */
  timeoutMs?: number;
}

/** Encodes what a request line cannot hold (controls, spaces, non-Latin-1), keeping all else as given. */
export function requestLinePath(path: string): string {
  return path.replace(/[^\u0021-\u007e]/gu, (c) => encodeURIComponent(c));
}

/** Sends one request; resolves with the reply (or `undefined` when `abortAfter` dropped it). */
export function rawRequest(base: string, agent: Agent | undefined, options: RawRequest): Promise<RawReply | undefined> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const body = options.body;
    const req = request({
      host: url.hostname,
      port: url.port,
      method: options.method,
      path: requestLinePath(options.path),
      headers: { ...(body && options.abortAfter === undefined ? { 'Content-Length': String(body.length) } : {}), ...options.headers },
      agent: agent ?? false,
      timeout: options.timeoutMs ?? 10_000,
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method} ${options.path}: no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', (err) => (options.abortAfter !== undefined ? resolve(undefined) : reject(err)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    if (options.abortAfter !== undefined && body) {
      req.write(body.subarray(0, options.abortAfter), () => setTimeout(() => req.destroy(), 5));
      return;
    }
    req.end(body);
  });
}

/** Writes `bytes` on a fresh connection and collects everything until the server closes it. */
export function rawExchange(base: string, bytes: string | Buffer, timeoutMs = 5000): Promise<{ text: string; closedBy: 'server' | 'reset' | 'timeout' }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedBy: 'server' | 'reset' | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedBy });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish('server'));
    socket.on('error', () => finish('reset'));
    socket.on('connect', () => socket.write(bytes));
  });
}

/** Status, headers and body of a raw HTTP/1.1 response text. */
export function parseRawResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: end < 0 ? '' : text.slice(end + 4) };
}
