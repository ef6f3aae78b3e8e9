/**
 * A serving process's life, shared by a lone server (cli.ts, server.ts) and the cluster
 * (workers.ts): how many processes serve, the one `listening` line with the bound address
 * (scripts and tests read it) and the warning about serving without auth off loopback, and the
 * graceful stop on SIGTERM/SIGINT. Kept apart from server.ts so that the cluster primary loads no
 * part of the app, and from workers.ts so that a lone server loads nothing of the cluster.
 */
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { type Config, parseListen } from './config.js';
import type { RunningServer } from './server.js';

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

/** Server processes for `workers: N | auto` (auto: one per CPU). */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/**
 * Closes the server on SIGTERM/SIGINT and exits: 0 when it closed cleanly. Each signal is taken
 * once (a worker may get both: SIGINT from the terminal, SIGTERM from the primary); the same
 * signal again ends the process at once, for a user who presses Ctrl-C twice.
 */
export function stopOnSignals(running: RunningServer, log: Logger): void {
  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
