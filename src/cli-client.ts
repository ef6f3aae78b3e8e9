/**
 * How `berth` commands talk to a running Berth (builds, repos, tags, rm, du with `--url`): the
 * URL from `--url`, else the config's listen address; credentials when auth is on: `--user NAME`
 * with the password from `--password-stdin` or $BERTHCTL_PASSWORD, or a token from
 * $BERTHCTL_TOKEN (names outside BERTH_*, which is the config's). Failures are one line.
 */
import { commandConfig, readSecretFromStdin, UsageError } from './cli-util.js';

export interface ConnectOptions {
  url?: string;
  config?: string;
  user?: string;
  'password-stdin'?: boolean;
}

export interface Connection {
  url: string;
  headers: Record<string, string>;
  /** Where the URL came from, for messages: `--url`, or the config file's listen address. */
  origin: string;
}

/** A failure talking to Berth: printed as one line, exit status 1. */
export class RemoteError extends Error {}

export const CONNECT_OPTIONS = {
  url: { type: 'string' },
  user: { type: 'string' },
  'password-stdin': { type: 'boolean' },
} as const;

export const CONNECT_USAGE = `  --url URL          Berth's URL (default: http:// + the config's listen address)
  --user NAME        sign in as NAME; the password from --password-stdin or $BERTHCTL_PASSWORD
  --password-stdin   read the password from standard input
  $BERTHCTL_TOKEN    a robot token's secret, or an access token, instead of --user`;

export async function connect(values: ConnectOptions): Promise<Connection> {
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
    const password = values['password-stdin'] ? await readSecretFromStdin() : process.env.BERTHCTL_PASSWORD;
    if (!password) throw new UsageError('--user needs a password: --password-stdin or $BERTHCTL_PASSWORD');
    headers.Authorization = `Basic ${Buffer.from(`${values.user}:${password}`).toString('base64')}`;
  } else if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  return { url: url.replace(/\/+$/, ''), headers, origin };
}

/** One request; a non-2xx answer becomes a RemoteError naming the OCI error code and message. */
export async function call(conn: Connection, method: string, path: string, body?: unknown): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${conn.url}${path}`, {
      method,
      headers: { ...conn.headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new RemoteError(`cannot reach Berth at ${conn.url} (from ${conn.origin}): ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
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

/**
 * When nothing came back, says on stderr which server was asked, and whether it wants credentials
 * that were not given (then only what anonymous callers may see is listed).
 */
export async function explainEmpty(conn: Connection, what: string): Promise<void> {
  process.stderr.write(`no ${what} at ${conn.url} (from ${conn.origin})\n`);
  if (conn.headers.Authorization) return;
  const probe = await fetch(`${conn.url}/v2/`).catch(() => undefined);
  if (probe?.status === 401) {
    process.stderr.write(`this Berth has auth on and no credentials were given: only public ${what} are listed (sign in with --user NAME and --password-stdin or $BERTHCTL_PASSWORD, or $BERTHCTL_TOKEN)\n`);
  }
}

/** Runs a command that talks to Berth, printing a RemoteError as one line (exit status 1). */
export async function reportRemoteErrors(command: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    process.stderr.write(`berth ${command}: ${err.message}\n`);
    process.exitCode = 1;
  }
}
