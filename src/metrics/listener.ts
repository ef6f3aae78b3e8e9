/**
 * `/metrics` on a listener of its own (`metrics.listen`): nothing else is served there. It serves
 * whatever `render` gives: this process's registry, or (cluster mode) a primary's aggregate.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { parseListen } from '../config.js';
import { hostPort, listenOn } from '../util/index.js';
import { type Exposition, MetricsUnavailableError } from './exposition.js';

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export async function startMetricsListener(render: () => Promise<Exposition>, listen: string, log: Logger): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.warn({ err }, 'metrics could not be collected');
        const unavailable = err instanceof MetricsUnavailableError;
        res.writeHead(unavailable ? 503 : 500, { 'Content-Type': 'text/plain' }).end(`metrics could not be collected${unavailable ? `: ${err.message}` : ''}\n`);
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const { host, port } = parseListen(listen);
  const address = await listenOn(server, host, port);
  return {
    url: `http://${hostPort(address)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
