/** What every `berth` subcommand shares: usage errors and loading the config from `--config`. */
import { type Config, DEFAULT_CONFIG_FILE, loadConfig } from './config.js';

/** A mistake in the command line: printed without a stack, exit status 2. */
export class UsageError extends Error {}

/** The config a command runs with: `--config FILE`, else the package's config/registry.yaml; `flags` win. */
export function commandConfig(file: string | undefined, flags: { listen?: string; workers?: number | 'auto' } = {}): Config {
  return loadConfig({ file: file ?? DEFAULT_CONFIG_FILE, ...flags });
}
