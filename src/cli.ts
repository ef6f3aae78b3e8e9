#!/usr/bin/env node
/**
 * `berth <command>`: serve (more commands come with auth, builds and gc). Every command takes
 * `--config FILE`; without it the package's config/registry.yaml is used.
 */
import { parseArgs } from 'node:util';
import { commandConfig, UsageError } from './cli-util.js';
import { ConfigError } from './config.js';
import { stopOnSignals, workerCount } from './lifecycle.js';
import { createLogger } from './log.js';

const USAGE = `usage: berth <command> [options]

commands:
  serve [--config FILE] [--listen HOST:PORT] [--workers N|auto]
                                               serve the registry (N processes: auto
                                               is one per CPU)
  gc [--dry-run] [--grace 1h] [--upload-ttl 24h]
                                               delete blobs no manifest references, and
                                               abandoned uploads
  user add|passwd|remove NAME                  manage users (auth.usersFile)
  token create|revoke|list                     access tokens for CI
  builds list|logs|trigger                     automated builds

options:
  --config FILE   config file (default: the package's config/registry.yaml)
  --listen ADDR   listen address, overriding the config (port 0 picks a free port)
  --workers N     server processes (or auto), overriding the config's workers
  --help          this text
`;

function parseWorkers(value: string | undefined): number | 'auto' | undefined {
  if (value === undefined || value === 'auto') return value;
  if (!/^[1-9]\d{0,2}$/.test(value)) throw new UsageError(`--workers: a number from 1 or auto (got ${JSON.stringify(value)})`);
  return Number(value);
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, listen: { type: 'string' }, workers: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const config = commandConfig(values.config, { listen: values.listen, workers: parseWorkers(values.workers) });
  const log = createLogger(config.log.level);
  const workers = workerCount(config.workers);
  if (workers > 1) return (await import('./workers.js')).runPrimary(config, log, workers);
  const { startServer } = await import('./server.js');
  stopOnSignals(await startServer(config, log), log);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'user':
      return (await import('./auth/cli.js')).runUserCommand(rest);
    case 'token':
      return (await import('./auth/cli.js')).runTokenCommand(rest);
    case 'builds':
      return (await import('./builds/queue/cli.js')).runBuildsCommand(rest);
    case 'gc':
      return (await import('./gc-cli.js')).runGcCommand(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`berth: ${(err as Error).message}\n`);
    if (err instanceof UsageError) process.stderr.write(USAGE);
    process.exit(2);
  }
  process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
