/**
 * A small HTTP proxy in front of a real registry, for pull-through cache tests: it forwards
 * every request (the Host header as the client sent it, so a registry that builds its token
 * realm from Host sends token requests through here too), counts what passes, and injects the
 * fault a test asks for: an error status, a hang (no answer), a reset connection, a body cut
 * short, or a body with one byte changed.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** Closes the connection without an answer. */
  | { kind: 'reset' }
  /** Forwards, but ends the body after half of it (the headers promise the whole). */
  | { kind: 'truncate' }
  /** Forwards, with the body's first byte changed (same length). */
  | { kind: 'corrupt' };

export interface Seen {
  method: string;
  path: string;
}

export interface FaultProxy {
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Every request that arrived, in order. */
  seen: Seen[];
  /** Decides the fault for a request; undefined forwards it untouched. */
  fault: (req: Seen) => Fault | undefined;
  /** Requests seen with `method` whose path passes `test`. */
  count(method: string, test: (path: string) => boolean): number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const hanging = new Set<ServerResponse>();
  const proxy: FaultProxy = {
    url: '',
    host: '',
    seen: [],
    fault: () => undefined,
    count(method, test) {
      return this.seen.filter((s) => s.method === method && test(s.path)).length;
    },
    async close() {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void => {
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault?.kind === 'truncate') {
          const half = Math.floor(Number(answer.headers['content-length'] ?? 0) / 2);
          let sent = 0;
          answer.on('data', (chunk: Buffer) => {
            const room = half - sent;
            if (room > 0) res.write(chunk.subarray(0, room));
            sent += chunk.length;
            if (sent >= half) {
              answer.destroy();
              res.socket?.destroy();
            }
          });
          answer.on('end', () => res.socket?.destroy());
          return;
        }
        let first = fault?.kind === 'corrupt';
        answer.on('data', (chunk: Buffer) => {
          if (first && chunk.length > 0) {
            first = false;
            const changed = Buffer.from(chunk);
            changed[0] = changed[0]! ^ 0xff;
            res.write(changed);
            return;
          }
          res.write(chunk);
        });
        answer.on('end', () => res.end());
      },
    );
    out.on('error', () => res.socket?.destroy());
    req.pipe(out);
  };

  const server: Server = createServer((req, res) => {
    const seen = { method: req.method ?? 'GET', path: req.url ?? '/' };
    proxy.seen.push(seen);
    const fault = proxy.fault(seen);
    switch (fault?.kind) {
      case 'status':
        req.resume();
        res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.status}` }] }));
        return;
      case 'hang':
        req.resume();
        hanging.add(res);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      default:
        forward(req, res, fault);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  proxy.host = `127.0.0.1:${port}`;
  proxy.url = `http://${proxy.host}`;
  return proxy;
}
