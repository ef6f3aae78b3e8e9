#!/usr/bin/env node
/**
 * `berth <command>`: serve (more commands come with auth, builds and gc). Every command takes
 * `--config FILE`; without it the package's config/registry.yaml is used.
 */
import { parseArgs } from 'node:util';
import { commandConfig, UsageError } from './cli-util.js';
import { ConfigError } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

const USAGE = `usage: berth <command> [options]

commands:
  serve [--config FILE] [--listen HOST:PORT]   serve the registry
  gc [--dry-run] [--grace 1h] [--upload-ttl 24h]
                                               delete blobs no manifest references, and
                                               abandoned uploads
  user add|passwd|remove NAME                  manage users (auth.usersFile)
  token create|revoke|list                     access tokens for CI
  builds list|logs|trigger                     automated builds

options:
  --config FILE   config file (default: the package's config/registry.yaml)
  --listen ADDR   listen address, overriding the config (port 0 picks a free port)
  --help          this text
`;

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, listen: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const config = commandConfig(values.config, values.listen);
  const log = createLogger(config.log.level);
  const running = await startServer(config, log);
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
