import type { RequestListener } from 'node:http';
import type { TlsConfig } from './config.js';
import type { Listener, ListenerDeps } from './index.js';

export async function createAcmeListener(_tls: TlsConfig, _handler: RequestListener, _deps: ListenerDeps): Promise<Listener> {
  throw new Error('ACME: not written yet');
}
