/**
 * The one `listening` line a server logs with its bound address (scripts and tests read it), and
 * the warning about serving without auth off loopback. Logged by server.ts for a lone server and
 * by the cluster primary (workers.ts) once for all its workers; kept apart so that the primary
 * loads no part of the app.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Config, parseListen } from './config.js';

export type BoundAddress = Pick<AddressInfo, 'address' | 'port' | 'family'>;

export function hostPort(address: BoundAddress): string {
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Logs at info whatever the configured level. */
export function announceListening(config: Config, log: Logger, address: BoundAddress): void {
  const url = `http://${hostPort(address)}`;
  const workers = config.workers === 1 ? undefined : config.workers;
  log.child({}, { level: 'info' }).info({ address: hostPort(address), url, storage: config.storage.driver, auth: config.auth.mode, workers }, 'listening');
  if (config.auth.mode === 'none' && !isLoopback(parseListen(config.listen).host)) {
    log.warn({ address: url }, 'serving WITHOUT authentication on a non-loopback address: anyone who can reach it may push, pull and delete');
  }
}
