/**
 * The main listener's transport: plain HTTP, or HTTPS with certificates from files (files.ts) or
 * from an ACME CA (acme.ts). `createListener` builds the server (never listening: server.ts does
 * that) and says how to renew: `reload()` re-reads files (SIGHUP), `start()` begins watching
 * files or ordering and renewing ACME certificates once the server listens, `stop()` ends that.
 */
import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { CertificateFiles, type CertificatePair } from './files.js';
import { type TlsConfig, tlsEnabled } from './config.js';

export { checkTlsConfig, TLS_SCHEMA, type TlsConfig, tlsEnabled } from './config.js';

export interface Listener {
  server: Server;
  protocol: 'http' | 'https';
  /** Re-reads certificate files (SIGHUP); true when a new certificate went into service. */
  reload(): Promise<boolean>;
  /** After listening: watch files, or order and renew ACME certificates. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ListenerDeps {
  driver: StorageDriver;
  log: Logger;
  /** Told of every certificate put into service (metrics). */
  onCertificate?: (pair: CertificatePair) => void;
  /** Node's server options (timeouts), for HTTP and HTTPS alike. */
  serverOptions?: ServerOptions;
}

export async function createListener(tls: TlsConfig, handler: RequestListener, deps: ListenerDeps): Promise<Listener> {
  if (!tlsEnabled(tls)) {
    return { server: createHttpServer(deps.serverOptions ?? {}, handler), protocol: 'http', reload: async () => false, start: async () => {}, stop: async () => {} };
  }
  const log = deps.log.child({ component: 'tls' });
  if (tls.acme.directory !== '') {
    const { createAcmeListener } = await import('./acme.js');
    return createAcmeListener(tls, handler, { ...deps, log });
  }
  let server: Server | undefined;
  const files = new CertificateFiles(tls.certificate, tls.key, tls.watchSeconds, log, (pair) => {
    // New connections get the new pair; open ones keep theirs.
    (server as unknown as import('node:tls').Server | undefined)?.setSecureContext({ cert: pair.cert, key: pair.key });
    deps.onCertificate?.(pair);
  });
  const pair = await files.load();
  // An https.Server is an http.Server with TLS underneath: every http method server.ts uses is there.
  server = createHttpsServer({ ...deps.serverOptions, cert: pair.cert, key: pair.key }, handler) as unknown as Server;
  return {
    server,
    protocol: 'https',
    reload: () => files.reload('SIGHUP'),
    start: async () => files.watch(),
    stop: async () => files.stop(),
  };
}
