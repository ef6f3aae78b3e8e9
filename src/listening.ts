/**
 * The one `listening` line a server logs with its bound address (scripts and tests read it), the
 * warnings about serving without auth off loopback, and the other deployment warnings. Logged by
 * server.ts for a lone server and by the cluster primary (workers.ts) once for all its workers;
 * kept apart so that the primary loads no part of the app.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Config, isLoopbackHost, parseListen } from './config.js';
import { deploymentWarnings } from './deployment-warnings.js';
import { describeStorage } from './storage.js';
import { tlsEnabled } from './tls/config.js';
import { hostPort } from './util/listen.js';

export type BoundAddress = Pick<AddressInfo, 'address' | 'port' | 'family'>;

export function listeningUrl(config: Config, address: BoundAddress): string {
  return `${tlsEnabled(config.tls) ? 'https' : 'http'}://${hostPort(address as AddressInfo)}`;
}

/** Logs at info whatever the configured level. */
export function announceListening(config: Config, log: Logger, address: BoundAddress): void {
  const url = listeningUrl(config, address);
  const workers = config.workers === 1 ? undefined : config.workers;
  log
    .child({}, { level: 'info' })
    .info({ address: hostPort(address as AddressInfo), url, storage: describeStorage(config.storage), auth: config.auth.mode, workers }, 'listening');
  if (config.auth.mode === 'none' && !isLoopbackHost(parseListen(config.listen).host)) {
    if (config.auth.modeGiven) {
      log.warn({ address: url }, 'serving WITHOUT authentication on a non-loopback address (auth.mode: none): anyone who can reach it may push, pull and delete');
    } else {
      log.warn({ address: url }, 'serving pulls only: no authentication is configured and the address is not loopback, so pushes and deletes are refused; set auth.mode: token (see README, "Authentication"), or auth.mode: none to let anyone who can reach it write');
    }
  }
  for (const warning of deploymentWarnings(config)) log.warn(warning.fields ?? {}, warning.message);
}
