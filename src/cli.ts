#!/usr/bin/env node
/**
 * `berth <command>`: serve, gc, fsck, user, token, builds, repos|tags|rm|du, events, tag,
 * healthcheck, mirror. Every command takes `--config FILE`; without it the package's
 * config/registry.yaml is used. A mistake on the command line prints one line (and where to find more) and exits 2; a
 * failure exits 1.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { commandConfig, explainFailure, UsageError } from './cli-util.js';
import { ConfigError } from './config.js';
import { stopOnSignals, workerCount } from './lifecycle.js';
import { createLogger } from './log.js';
import { RegistryError } from './registry/errors.js';
import type { RunningServer } from './server.js';

const USAGE = `usage: berth <command> [options]

commands:
  serve [--config FILE] [--listen HOST:PORT] [--workers N|auto]
                                               serve the registry (N processes: auto
                                               is one per CPU)
  gc [--dry-run] [--grace 1h] [--upload-ttl 24h]
                                               delete blobs no manifest references, and
                                               abandoned uploads
  fsck [--repair] [--quick] [--json]           check the storage: corrupt blobs, dangling
                                               links, broken manifests, orphan uploads
  user add|passwd|remove NAME, user list       manage users (auth.usersFile)
  token create|revoke|list                     robot tokens for CI
  builds list|logs|trigger|cancel              automated builds
  repos, tags NAME, rm NAME:TAG, du [NAME]     what is stored: repositories, tags, delete, usage
  events [--repository P] [--action A] [--since 24h], events test|status
                                               the audit trail, and the notification endpoints
  tag history NAME:TAG                         every digest a tag pointed to, when and by whom
  mirror SRC DEST [--all-platforms] [--referrers]
                                               copy an image or index from any registry here
  healthcheck [--ready]                        exit 0 when the server answers /healthz (/readyz)

options:
  --config FILE   config file (default: the package's config/registry.yaml)
  --listen ADDR   listen address, overriding the config (port 0 picks a free port)
  --workers N     server processes (or auto), overriding the config's workers
  --help          this text (\`berth COMMAND --help\` for a command's own options)
  --version       Berth's version
`;

function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

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
  let running: RunningServer;
  try {
    running = await startServer(config, log);
  } catch (err) {
    const explained = explainFailure(err, config);
    if (!explained) throw err;
    process.stderr.write(`berth: ${explained}\n`);
    process.exit(1);
  }
  stopOnSignals(running, log);
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
    case 'fsck':
      return (await import('./fsck-cli.js')).runFsckCommand(rest);
    case 'events':
      return (await import('./events/cli.js')).runEventsCommand(rest);
    case 'tag':
      return (await import('./events/cli.js')).runTagCommand(rest);
    case 'healthcheck':
      return (await import('./health/cli.js')).runHealthcheckCommand(rest);
    case 'mirror':
      return (await import('./proxy/mirror-cli.js')).runMirrorCommand(rest);
    case 'repos':
    case 'tags':
    case 'rm':
    case 'du':
      return (await import('./repositories/cli.js')).runRepositoryCommand(command, rest);
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return;
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`berth ${version()}\n`);
      return;
    case undefined:
      process.stderr.write(USAGE);
      process.exitCode = 2;
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

const argv = process.argv.slice(2);
main(argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    const command = ['serve', 'gc', 'fsck', 'user', 'token', 'builds', 'repos', 'tags', 'rm', 'du', 'events', 'tag', 'healthcheck', 'mirror'].includes(argv[0] ?? '') ? `berth ${argv[0]}` : 'berth';
    process.stderr.write(`berth: ${(err as Error).message}\n${command} --help shows the usage\n`);
    process.exit(2);
  }
  if (err instanceof RegistryError) {
    process.stderr.write(`berth: ${err.code}: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
