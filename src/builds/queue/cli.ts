/**
 * `berth builds list|logs|trigger`: a client of a running Berth's /api/builds (so it sees
 * what every replica sees). The URL comes from `--url`, else the config's listen address.
 * Credentials when auth is on: `--user NAME` with the password from `--password-stdin` or
 * $BERTHCTL_PASSWORD, or a token from $BERTHCTL_TOKEN (names outside BERTH_*, which is the
 * config's).
 */
import { parseArgs } from 'node:util';
import { commandConfig, UsageError } from '../../cli-util.js';

const USAGE = `usage: berth builds <command> [options]

commands:
  list [--repository R] [--state S] [-n N] [--json]
                          builds, newest first (R: owner/repo or the Berth repository;
                          S: queued, running, succeeded, failed, cancelled)
  logs ID [--no-follow]   a build's log, following it until the build ends; exits 1 when
                          the build failed or was cancelled
  trigger REPOSITORY [--branch B | --tag T | --ref REF] [--sha SHA] [--rule NAME] [--follow]
                          build as if the ref had been pushed (default: the default branch at
                          its current commit); --follow streams the logs
  cancel ID               cancel a queued or running build

options:
  --url URL          Berth's URL (default: http:// + the config's listen address)
  --config FILE      config file for the default URL
  --user NAME        sign in as NAME; the password from --password-stdin or $BERTHCTL_PASSWORD
  --password-stdin   read the password from standard input
  $BERTHCTL_TOKEN    an access token (berth token create) instead of a user and password
`;

interface Connection {
  url: string;
  headers: Record<string, string>;
  /** Where the URL came from, for messages: `--url`, or the config file's listen address. */
  origin: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function connect(values: { url?: string; config?: string; user?: string; 'password-stdin'?: boolean }): Promise<Connection> {
  let url = values.url;
  let origin = '--url';
  if (!url) {
    const listen = commandConfig(values.config).listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
    url = `http://${listen}`;
    origin = values.config ? `the listen address in ${values.config}` : "the default config's listen address; --url or --config to choose";
  }
  const headers: Record<string, string> = {};
  const token = process.env.BERTHCTL_TOKEN;
  if (values.user) {
    const password = values['password-stdin'] ? await readStdin() : process.env.BERTHCTL_PASSWORD;
    if (!password) throw new UsageError('--user needs a password: --password-stdin or $BERTHCTL_PASSWORD');
    headers.Authorization = `Basic ${Buffer.from(`${values.user}:${password}`).toString('base64')}`;
  } else if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  return { url: url.replace(/\/+$/, ''), headers, origin };
}

/**
 * Says on stderr, for a list that came back empty, which server was asked, and whether it wants
 * credentials that were not given (then only public builds are visible).
 */
async function explainEmpty(conn: Connection): Promise<void> {
  process.stderr.write(`no builds at ${conn.url} (from ${conn.origin})\n`);
  if (conn.headers.Authorization) return;
  const probe = await fetch(`${conn.url}/v2/`).catch(() => undefined);
  if (probe?.status === 401) {
    process.stderr.write('this Berth has auth on and no credentials were given: only public builds are listed (sign in with --user NAME and --password-stdin or $BERTHCTL_PASSWORD, or $BERTHCTL_TOKEN)\n');
  }
}

async function call(conn: Connection, method: string, path: string, body?: unknown): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${conn.url}${path}`, {
      method,
      headers: { ...conn.headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new RemoteError(`cannot reach Berth at ${conn.url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      const parsed = JSON.parse(text) as { errors?: { code: string; message: string }[] };
      if (parsed.errors?.[0]) message = `${parsed.errors[0].code}: ${parsed.errors[0].message}`;
    } catch {
      // not JSON
    }
    throw new RemoteError(`${method} ${path}: ${res.status} ${message}`.trim());
  }
  return res;
}

interface ShownBuild {
  id: string;
  state: string;
  github: string;
  image: string;
  ref: { type: string; name: string };
  sha: string;
  tags: string[];
  createdAt: string;
  error?: string;
}

function table(builds: ShownBuild[]): string {
  const rows = [['ID', 'STATE', 'GITHUB', 'REF', 'COMMIT', 'IMAGE:TAGS', 'CREATED']];
  for (const b of builds) rows.push([b.id, b.state, b.github, `${b.ref.type}:${b.ref.name}`, b.sha.slice(0, 12), `${b.image}:${b.tags.join(',')}`, b.createdAt]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Streams a build's log to stdout; returns the build's final state. */
async function streamLogs(conn: Connection, id: string, follow: boolean): Promise<string> {
  const res = await call(conn, 'GET', `/api/builds/${encodeURIComponent(id)}/logs${follow ? '' : '?follow=false'}`);
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
  }
  const record = (await (await call(conn, 'GET', `/api/builds/${encodeURIComponent(id)}`)).json()) as ShownBuild;
  return record.state;
}

/** A failure talking to Berth: printed as one line, exit status 1. */
class RemoteError extends Error {}

export async function runBuildsCommand(args: string[]): Promise<void> {
  try {
    await run(args);
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    process.stderr.write(`berth builds: ${err.message}\n`);
    process.exitCode = 1;
  }
}

async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      config: { type: 'string' },
      user: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      repository: { type: 'string' },
      state: { type: 'string' },
      n: { type: 'string', short: 'n' },
      json: { type: 'boolean' },
      'no-follow': { type: 'boolean' },
      follow: { type: 'boolean' },
      branch: { type: 'string' },
      tag: { type: 'string' },
      ref: { type: 'string' },
      sha: { type: 'string' },
      rule: { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, target, ...extra] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  switch (command) {
    case 'list': {
      const conn = await connect(values);
      const query = new URLSearchParams();
      if (values.repository) query.set('repository', values.repository);
      if (values.state) query.set('state', values.state);
      if (values.n) query.set('n', values.n);
      const body = (await (await call(conn, 'GET', `/api/builds${query.size ? `?${query}` : ''}`)).json()) as { builds: ShownBuild[] };
      process.stdout.write(values.json ? `${JSON.stringify(body, null, 2)}\n` : table(body.builds));
      if (body.builds.length === 0 && !values.json) await explainEmpty(conn);
      return;
    }
    case 'logs': {
      if (!target) throw new UsageError('berth builds logs ID');
      const state = await streamLogs(await connect(values), target, !values['no-follow']);
      if (state === 'failed' || state === 'cancelled') process.exitCode = 1;
      return;
    }
    case 'cancel': {
      if (!target) throw new UsageError('berth builds cancel ID');
      const body = (await (await call(await connect(values), 'POST', `/api/builds/${encodeURIComponent(target)}/cancel`)).json()) as ShownBuild & { cancelRequested?: boolean };
      process.stdout.write(`${body.id} ${body.cancelRequested ? 'cancel requested' : body.state}\n`);
      return;
    }
    case 'trigger': {
      if (!target) throw new UsageError('berth builds trigger REPOSITORY');
      const conn = await connect(values);
      const request = { repository: target, ref: values.ref, branch: values.branch, tag: values.tag, sha: values.sha, rule: values.rule };
      const body = (await (await call(conn, 'POST', '/api/builds', request)).json()) as { builds: ShownBuild[] };
      for (const b of body.builds) process.stdout.write(`${b.id} queued: ${b.image}:${b.tags.join(',')} from ${b.ref.type} ${b.ref.name} (${b.sha.slice(0, 12)})\n`);
      if (values.follow) {
        for (const b of body.builds) {
          const state = await streamLogs(conn, b.id, true);
          if (state !== 'succeeded') process.exitCode = 1;
        }
      }
      return;
    }
    default:
      throw new UsageError(`unknown builds command ${JSON.stringify(command)}`);
  }
}
