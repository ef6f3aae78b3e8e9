/**
 * What every `berth` subcommand shares: usage errors, loading the config from `--config`, a
 * password from standard input, and one-line explanations of the failures a user can fix (a busy
 * port, unreachable storage).
 */
import { StorageUnavailableError } from '../storage-drivers/driver.js';
import { type Config, DEFAULT_CONFIG_FILE, loadConfig } from './config.js';
import { describeStorage } from './storage.js';
import { parseDuration } from './util/index.js';

/** A mistake in the command line: printed without a stack, exit status 2. */
export class UsageError extends Error {}

/** A secret from standard input (`--password-stdin`), one trailing newline dropped. */
export async function readSecretFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A duration flag's value in ms (`30m`, `1h`, `7d`); a UsageError naming the flag otherwise. */
export function durationFlag(value: string, flag: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag}: not a duration (like 30m, 1h, 7d): ${value}`);
  return ms;
}

/** One sentence naming the cause and the fix, for failures a user can fix; undefined for others. */
export function explainFailure(err: unknown, config: Config): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `cannot listen on ${config.listen}: the address is in use (another Berth or another program holds the port); stop it or choose another address with --listen or BERTH_LISTEN`;
    case 'EACCES':
      return `cannot listen on ${config.listen}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${config.listen}: this machine has no such address; use 127.0.0.1, 0.0.0.0 or one of its own addresses`;
  }
  if (err instanceof StorageUnavailableError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    return `storage ${describeStorage(config.storage)} is unreachable (${cause}); check storage.* in the config and that the storage server runs`;
  }
  return undefined;
}

/** The config a command runs with: `--config FILE`, else the package's config/registry.yaml; `flags` win. */
export function commandConfig(file: string | undefined, flags: { listen?: string; workers?: number | 'auto' } = {}): Config {
  return loadConfig({ file: file ?? DEFAULT_CONFIG_FILE, ...flags });
}
