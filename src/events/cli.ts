/**
 * `berth events`, `berth events test ENDPOINT`, `berth events status` and `berth tag history
 * NAME:TAG`. Listing reads the storage of `--config` (everything: whoever reads the storage sees
 * it all) or asks a running Berth with `--url` (with the caller's rights there); `test` and
 * `status` use the config's endpoints and storage.
 */
import { parseArgs } from 'node:util';
import { call, CONNECT_OPTIONS, CONNECT_USAGE, type Connection, connect, explainEmpty, reportRemoteErrors } from '../cli-client.js';
import { commandConfig, UsageError } from '../cli-util.js';
import type { Config } from '../config.js';
import { createLogger } from '../log.js';
import { checkName, checkTag } from '../registry/names.js';
import { createStorageDriver } from '../storage.js';
import { parseDuration } from '../util/index.js';
import { newSource, testEvent, type EventRecord } from './event.js';
import { currentLease } from './lease.js';
import { checkQuery, type EventPage, queryEvents, QueryError, tagHistory } from './query.js';
import { send } from './sender.js';
import { EventStore } from './store.js';

export const EVENTS_USAGE = `usage:
  berth events [--repository PATTERN] [--action A] [--since DURATION] [-n N] [--json]
                               what happened, oldest first: pushes, deletes, pulls and builds,
                               by whom and from where
  berth events test ENDPOINT   send a signed test event to a configured endpoint, print the answer
  berth events status [--json] per endpoint: events waiting, failures in a row, next attempt,
                               last error, the replica delivering
  berth tag history NAME:TAG [-n N] [--json]
                               every digest the tag pointed to, when and by whom

  --repository PATTERN   a repository, or a pattern with * for any characters (team-a/*)
  --action A             push, delete, pull, build, or build.queued|succeeded|failed|cancelled
  --since DURATION       only the last 30m, 24h, 7d, ... (default: all that is kept)
  -n N                   at most the newest N (default 100)

Listings read the storage of --config FILE (default: the package's config), or a running Berth
with --url (only events of repositories you may pull there):
  --config FILE      config file (its storage and notifications.endpoints)
${CONNECT_USAGE}
`;

const OPTIONS = {
  ...CONNECT_OPTIONS,
  config: { type: 'string' },
  repository: { type: 'string' },
  action: { type: 'string' },
  since: { type: 'string' },
  n: { type: 'string', short: 'n' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

type Values = { url?: string; user?: string; 'password-stdin'?: boolean; config?: string; repository?: string; action?: string; since?: string; n?: string; json?: boolean };

type Source = { kind: 'storage'; config: Config; store: EventStore } | { kind: 'server'; conn: Connection };

async function storeOf(config: Config): Promise<EventStore> {
  // Warnings go to stderr: stdout is the listing (JSON with --json).
  return new EventStore(await createStorageDriver(config.storage), createLogger('warn', process.stderr));
}

async function sourceOf(values: Values): Promise<Source> {
  if (values.url || values.user) return { kind: 'server', conn: await connect(values) };
  const config = commandConfig(values.config);
  return { kind: 'storage', config, store: await storeOf(config) };
}

function count(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1) throw new UsageError(`-n: a whole number from 1 (got ${text})`);
  return Number(text);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function actor(event: EventRecord): string {
  const { name, token } = event.actor;
  return `${name ?? '-'}${token ? ` (token ${token})` : ''}`;
}

function target(event: EventRecord): string {
  const { repository, tag, digest } = event.target;
  const build = event.build ? ` build ${event.build.id}${event.build.error ? `: ${event.build.error}` : ''}` : '';
  return `${repository ?? '-'}${tag ? `:${tag}` : ''}${digest ? `@${digest.slice(0, 19)}` : ''}${build}`;
}

async function list(values: Values): Promise<void> {
  const limit = count(values.n, 100);
  const since = values.since === undefined ? undefined : parseDuration(values.since);
  if (values.since !== undefined && since === undefined) throw new UsageError(`--since: a duration like 30m, 24h or 7d (got ${values.since})`);
  try {
    checkQuery({ repository: values.repository, action: values.action });
  } catch (err) {
    if (err instanceof QueryError) throw new UsageError(`--${err.message}`);
    throw err;
  }
  const source = await sourceOf(values);
  const events: EventRecord[] = [];
  let before: string | undefined;
  do {
    const want = Math.min(1000, limit - events.length);
    let page: EventPage;
    if (source.kind === 'storage') {
      page = await queryEvents(source.store, {
        repository: values.repository,
        action: values.action,
        before,
        limit: want,
        ...(since !== undefined ? { since: new Date(Date.now() - since) } : {}),
      });
    } else {
      const query = new URLSearchParams({ n: String(want) });
      if (values.repository) query.set('repository', values.repository);
      if (values.action) query.set('action', values.action);
      if (values.since) query.set('since', values.since);
      if (before) query.set('last', before);
      page = (await (await call(source.conn, 'GET', `/api/events?${query}`)).json()) as EventPage;
    }
    events.push(...page.events);
    before = page.next;
  } while (before && events.length < limit);
  events.reverse();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(events)}\n`);
    return;
  }
  const rows = events.map((e) => [e.timestamp, e.action, target(e), actor(e), e.request?.addr || '-']);
  process.stdout.write(table([['TIME', 'ACTION', 'TARGET', 'BY', 'CLIENT'], ...rows]));
  if (events.length === 0 && source.kind === 'server') await explainEmpty(source.conn, 'events');
}

async function test(values: Values, name: string): Promise<void> {
  const config = commandConfig(values.config);
  const endpoint = config.notifications.endpoints.find((e) => e.name === name);
  if (!endpoint) {
    const known = config.notifications.endpoints.map((e) => e.name);
    throw new UsageError(`no endpoint ${JSON.stringify(name)} in notifications.endpoints${known.length ? ` (there: ${known.join(', ')})` : ' (none configured)'}`);
  }
  const event = testEvent(newSource(), { name: 'cli' });
  process.stdout.write(`POST ${endpoint.url} (${endpoint.format}, event ${event.id}, ${endpoint.secret ? 'signed' : 'NOT signed: no secret'})\n`);
  const outcome = await send(endpoint, event, undefined, true);
  if (outcome.status !== undefined) process.stdout.write(`${outcome.status} in ${outcome.ms} ms\n${outcome.body ? `${outcome.body}\n` : ''}`);
  if (!outcome.ok) {
    process.stderr.write(`berth events test: ${endpoint.name}: ${outcome.error}\n`);
    process.exitCode = 1;
  }
}

async function status(values: Values): Promise<void> {
  const config = commandConfig(values.config);
  const store = await storeOf(config);
  const names = [...new Set([...config.notifications.endpoints.map((e) => e.name), ...(await store.queuedEndpoints())])].sort();
  const now = Date.now();
  const rows = await Promise.all(
    names.map(async (name) => {
      const [waiting, state, lease] = await Promise.all([store.pending(name), store.readState(name), currentLease(store.driver, name)]);
      const configured = config.notifications.endpoints.some((e) => e.name === name);
      return {
        endpoint: name,
        configured,
        waiting: waiting.length,
        failures: state.failures,
        ...(state.nextAttemptAt > now ? { nextAttempt: new Date(state.nextAttemptAt).toISOString() } : {}),
        ...(state.lastError ? { lastError: state.lastError } : {}),
        ...(lease && !lease.released ? { replica: lease.owner, renewedAt: new Date(lease.renewedAt).toISOString() } : {}),
      };
    }),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const shown = rows.map((r) => [
    `${r.endpoint}${r.configured ? '' : ' (not configured)'}`,
    String(r.waiting),
    String(r.failures),
    r.nextAttempt ?? '-',
    r.replica ? `${r.replica} (${r.renewedAt})` : '-',
    r.lastError ?? '-',
  ]);
  process.stdout.write(table([['ENDPOINT', 'WAITING', 'FAILURES', 'NEXT ATTEMPT', 'DELIVERING REPLICA', 'LAST ERROR'], ...shown]));
}

export function runEventsCommand(args: string[]): Promise<void> {
  return reportRemoteErrors('events', async () => {
    const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(EVENTS_USAGE);
      return;
    }
    const [command, target, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    switch (command) {
      case undefined:
        return list(values);
      case 'test':
        if (!target) throw new UsageError('berth events test: give the name of an endpoint (notifications.endpoints[].name)');
        return test(values, target);
      case 'status':
        if (target) throw new UsageError(`unexpected argument ${JSON.stringify(target)}`);
        return status(values);
      default:
        throw new UsageError(`unknown events command ${JSON.stringify(command)} (list with no command, test ENDPOINT, status)`);
    }
  });
}

/** `NAME:TAG` -> its parts, checked. */
function parseTagReference(text: string): { name: string; tag: string } {
  const colon = text.lastIndexOf(':');
  if (colon < 0 || colon < text.lastIndexOf('/')) throw new UsageError(`${text}: give NAME:TAG`);
  return { name: checkName(text.slice(0, colon)), tag: checkTag(text.slice(colon + 1)) };
}

export function runTagCommand(args: string[]): Promise<void> {
  return reportRemoteErrors('tag', async () => {
    const { config, n, json, help } = OPTIONS;
    const options = { ...CONNECT_OPTIONS, config, n, json, help };
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(EVENTS_USAGE);
      return;
    }
    const [command, reference, ...extra] = positionals;
    if (command !== 'history') throw new UsageError(command === undefined ? 'berth tag: give history NAME:TAG' : `unknown tag command ${JSON.stringify(command)} (history NAME:TAG)`);
    if (!reference) throw new UsageError('berth tag history: give NAME:TAG');
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    const { name, tag } = parseTagReference(reference);
    const limit = Math.min(count(values.n, 100), 1000);
    const source = await sourceOf(values);
    const history =
      source.kind === 'storage'
        ? await tagHistory(source.store, name, tag, limit)
        : ((await (await call(source.conn, 'GET', `/api/repositories/${name}/tags/${tag}/history?n=${limit}`)).json()) as { history: EventRecord[] }).history;
    if (values.json) {
      process.stdout.write(`${JSON.stringify(history)}\n`);
      return;
    }
    if (history.length === 0) {
      process.stderr.write(`no history of ${name}:${tag} (kept for notifications.retention, and only with notifications.journal on)\n`);
      return;
    }
    const rows = history.map((e) => [e.timestamp, e.action, e.target.digest ?? '-', actor(e), e.request?.addr || '-']);
    process.stdout.write(table([['TIME', 'ACTION', 'DIGEST', 'BY', 'CLIENT'], ...rows]));
  });
}
