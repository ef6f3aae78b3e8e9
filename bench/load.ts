/**
 * A lean HTTP/1.1 load generator over raw sockets, in the spirit of wrk: N keep-alive
 * connections, each sending its next request as soon as the last response is complete.
 *
 * node:http's client costs several times what a lean server spends per request (measured here:
 * about 2,000 req/s against a bare node:http server that answers 12,000 req/s to `ab`), so with it
 * the bench measured its own client. This one writes a prebuilt request and parses only the
 * status line, Content-Length and chunked framing, so it stays well ahead of the servers.
 */
import { connect, type Socket } from 'node:net';

export interface LoadSpec {
  /** `http://host:port` */
  url: string;
  method: 'GET' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  /** The status every response must have. */
  expectStatus?: number;
}

export interface LoadResult {
  completed: number;
  errors: number;
  firstError?: string;
  elapsed: number;
  /** Sorted ascending. */
  latenciesMs: Float64Array;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** What one response looks like once its head is parsed. */
interface Head {
  status: number;
  /** Body bytes after the head, or 'chunked'. */
  body: number | 'chunked';
  headLength: number;
}

function parseHead(buffer: Buffer, end: number, method: string): Head {
  const text = buffer.toString('latin1', 0, end);
  const status = Number(text.slice(9, 12));
  let body: number | 'chunked' = 0;
  if (method !== 'HEAD' && status !== 204 && status !== 304) {
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
    if (length) body = Number(length[1]);
    else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(text)) body = 'chunked';
  }
  return { status, body, headLength: end + 4 };
}

/** Bytes of a complete chunked body at the start of `data`, or -1 when more is needed. */
function chunkedLength(data: Buffer): number {
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) return -1;
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    at = lineEnd + 2 + size + 2;
    if (at > data.length) return -1;
    if (size === 0) return at;
  }
}

class Connection {
  private socket: Socket | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private head: Head | undefined;
  private sentAt = 0n;

  constructor(
    private readonly spec: LoadSpec,
    private readonly request: Buffer,
    private readonly onResponse: (ok: boolean, latencyNs: bigint, error?: string) => boolean,
  ) {}

  /** Resolves when the connection is done (told to stop, or failed). */
  run(): Promise<void> {
    return new Promise((resolve) => {
      const { hostname, port } = new URL(this.spec.url);
      const socket = connect(Number(port), hostname);
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('connect', () => this.send());
      socket.on('data', (data: Buffer) => this.receive(data));
      socket.on('error', (err) => {
        this.onResponse(false, 0n, err.message);
      });
      socket.on('close', () => resolve());
    });
  }

  private send(): void {
    this.sentAt = process.hrtime.bigint();
    this.socket!.write(this.request);
  }

  private receive(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    for (;;) {
      if (!this.head) {
        const end = this.pending.indexOf(CRLF2);
        if (end < 0) return;
        this.head = parseHead(this.pending, end, this.spec.method);
      }
      let total: number;
      if (this.head.body === 'chunked') {
        const length = chunkedLength(this.pending.subarray(this.head.headLength));
        if (length < 0) return;
        total = this.head.headLength + length;
      } else {
        total = this.head.headLength + this.head.body;
        if (this.pending.length < total) return;
      }
      const status = this.head.status;
      this.pending = this.pending.subarray(total);
      this.head = undefined;
      const ok = status === (this.spec.expectStatus ?? 200);
      const more = this.onResponse(ok, process.hrtime.bigint() - this.sentAt, ok ? undefined : `HTTP ${status}`);
      if (!more) {
        this.socket!.destroy();
        return;
      }
      this.send();
    }
  }
}

/** Runs the load: a warm-up on the same connections, then `seconds` of measured requests. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { host } = new URL(spec.url);
  const headers = Object.entries({ Host: host, ...spec.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const request = Buffer.from(`${spec.method} ${spec.path} HTTP/1.1\r\n${headers}\r\n`, 'latin1');
  let latencies = new Float64Array(1 << 16);
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const begun = process.hrtime.bigint();
  const measureFrom = begun + BigInt(Math.round(spec.warmupSeconds * 1e9));
  const stopAt = measureFrom + BigInt(Math.round(spec.seconds * 1e9));
  const onResponse = (ok: boolean, latencyNs: bigint, error?: string): boolean => {
    const now = process.hrtime.bigint();
    if (now >= measureFrom) {
      if (ok) {
        if (completed === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[completed++] = Number(latencyNs) / 1e6;
      } else {
        errors += 1;
      }
    }
    if (!ok) firstError ??= error;
    return now < stopAt && (error === undefined || error.startsWith('HTTP'));
  };
  await Promise.all(Array.from({ length: spec.connections }, () => new Connection(spec, request, onResponse).run()));
  const elapsed = Number(process.hrtime.bigint() - measureFrom) / 1e9;
  return { completed, errors, firstError, elapsed, latenciesMs: latencies.slice(0, completed).sort() };
}

/** One buffer every bulk download reads into: each read is counted and forgotten before the next. */
const BULK_BUFFER = Buffer.allocUnsafe(1024 * 1024);

/**
 * GETs `path` on `clients` connections at once, counting and discarding the bodies as
 * `curl -o /dev/null` would (reads go into one reused 1 MiB buffer, nothing is kept or hashed).
 * Rejects unless every response is 200 with exactly `expectBytes` of body.
 */
export async function pullMany(url: string, path: string, clients: number, expectBytes: number): Promise<void> {
  const { hostname, port, host } = new URL(url);
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1');
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      let head = Buffer.alloc(0);
      let length = -1;
      let received = 0;
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const socket = connect({
        host: hostname,
        port: Number(port),
        onread: {
          buffer: () => BULK_BUFFER,
          callback: (bytes: number, buffer: Uint8Array): boolean => {
            let body = 0;
            if (length < 0) {
              head = Buffer.concat([head, buffer.subarray(0, bytes)]);
              const end = head.indexOf(CRLF2);
              if (end < 0) return true;
              const parsed = parseHead(head, end, 'GET');
              if (parsed.status !== 200 || parsed.body === 'chunked') {
                finish(new Error(`GET ${path}: HTTP ${parsed.status}${parsed.body === 'chunked' ? ', chunked' : ''}`));
                return false;
              }
              length = parsed.body;
              body = head.length - parsed.headLength;
            } else {
              body = bytes;
            }
            received += body;
            if (received >= length) finish(received === length && length === expectBytes ? undefined : new Error(`GET ${path}: ${received} bytes, expected ${expectBytes}`));
            return true;
          },
        },
      });
      socket.setNoDelay(true);
      socket.on('connect', () => socket.write(request));
      socket.on('error', (err) => finish(err));
      socket.on('end', () => finish(new Error(`GET ${path}: connection closed after ${received} of ${expectBytes} bytes`)));
    });
  await Promise.all(Array.from({ length: clients }, one));
}
