/**
 * A serving process's life, shared by a lone server (cli.ts) and the cluster (workers.ts): how
 * many processes serve, and the graceful stop on signals. Kept apart from workers.ts so that a
 * lone server loads nothing of the cluster; the `listening` line is in listening.ts.
 */
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { RunningServer } from './server.js';

/** Server processes for `workers: N | auto` (auto: one per CPU). */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/**
 * Closes the server on SIGTERM/SIGINT and exits: 0 when it closed cleanly. Each signal is taken
 * once (a worker may get both: SIGINT from the terminal, SIGTERM from the primary); the same
 * signal again ends the process at once, for a user who presses Ctrl-C twice. SIGHUP re-reads
 * the TLS certificate files (renewed in place); without TLS it does nothing.
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
  process.on('SIGHUP', () => void running.reload());
}
