/**
 * The `notifications:` section of the config: its schema (checked by src/config.ts with every
 * other key) and its type. Endpoints are file-only; the scalars below them come from the
 * environment too (`BERTH_NOTIFICATIONS_RETENTION=30d`).
 */
import { ConfigError, type Field } from '../config-schema.js';
import { parseDuration } from '../util/index.js';
import { CATEGORIES, type EventCategory } from './event.js';

export type EventFormat = 'distribution' | 'cloudevents';

export interface EndpointConfig {
  /** Names the endpoint in logs, commands and storage paths. */
  name: string;
  url: string;
  /** HMAC-SHA256 key of `X-Berth-Signature-256`; empty: deliveries are not signed. */
  secret: string;
  events: EventCategory[];
  /** Repository patterns (`*` for any characters, `/` included). */
  repositories: string[];
  format: EventFormat;
  /** Sent with every delivery (an `Authorization` the receiver wants, say). */
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface NotificationsConfig {
  endpoints: EndpointConfig[];
  /** Keep every event in storage: the audit trail (`berth events`, tag history). */
  journal: boolean;
  /** Events older than this are pruned (whole days): a duration like 90d. */
  retention: string;
  /** Events waiting for one endpoint, past which the oldest are dropped. */
  backlog: number;
  /** Waits after failed deliveries: `initial`, doubling per failure in a row, up to `max`. */
  backoff: { initial: string; max: string };
  /** A replica that stops renewing its hold on an endpoint for this long is replaced by another. */
  lease: string;
  /** How often the delivering replica looks for events that other replicas (or commands) wrote. */
  poll: string;
}

const DURATION = /^\d{1,15}(?:ms|[smhdwy])?$/;
const DURATION_HINT = 'must be a duration like 500ms, 30s, 5m, 1h or 90d';
const ENDPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
/** Set by Berth on every delivery: a configured header may not replace them. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'x-berth-signature-256', 'x-berth-event-id', 'host']);

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, where: string, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw new ConfigError(`${where}: must be a non-empty list of strings`);
  }
  return value as string[];
}

function checkHeaders(value: unknown, where: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isMap(value)) throw new ConfigError(`${where}: must map header names to values`);
  const headers: Record<string, string> = {};
  for (const [name, raw] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) throw new ConfigError(`${where}.${name}: not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new ConfigError(`${where}.${name}: set by Berth itself`);
    // Distribution's config writes header values as lists: taken too.
    const values = Array.isArray(raw) ? raw : [raw];
    if (values.length === 0 || !values.every((v) => typeof v === 'string')) throw new ConfigError(`${where}.${name}: must be a string (or a list of strings)`);
    const joined = (values as string[]).join(', ');
    if (/[\r\n\0]/.test(joined)) throw new ConfigError(`${where}.${name}: a header value cannot hold line breaks`);
    headers[name] = joined;
  }
  return headers;
}

function checkEndpoints(value: unknown, key: string): EndpointConfig[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: must be a list of endpoints`);
  const seen = new Set<string>();
  return value.map((item, i) => {
    const where = `${key}[${i}]`;
    if (!isMap(item)) throw new ConfigError(`${where}: must be a map`);
    const known = new Set(['name', 'url', 'secret', 'events', 'repositories', 'format', 'headers', 'timeout']);
    for (const k of Object.keys(item)) if (!known.has(k)) throw new ConfigError(`${where}.${k}: unknown key (known here: ${[...known].join(', ')})`);
    if (typeof item.name !== 'string' || !ENDPOINT_NAME.test(item.name)) {
      throw new ConfigError(`${where}.name: letters, digits, . _ - (up to 64), starting with a letter or digit`);
    }
    if (seen.has(item.name)) throw new ConfigError(`${where}.name: ${item.name} is used twice`);
    seen.add(item.name);
    let url: URL | undefined;
    try {
      url = typeof item.url === 'string' ? new URL(item.url) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(`${where}.url: must be an http(s) URL`);
    if (url.username || url.password) throw new ConfigError(`${where}.url: no credentials in the URL; send them in headers (Authorization: ...)`);
    const secret = item.secret ?? '';
    if (typeof secret !== 'string') throw new ConfigError(`${where}.secret: must be a string`);
    if (secret !== '' && secret.length < 16) throw new ConfigError(`${where}.secret: must be at least 16 characters (openssl rand -hex 32 makes a good one)`);
    const events = stringList(item.events, `${where}.events`, ['push', 'delete', 'build']);
    for (const event of events) {
      if (!(CATEGORIES as readonly string[]).includes(event)) throw new ConfigError(`${where}.events: ${JSON.stringify(event)} is not one of ${CATEGORIES.join(', ')}`);
    }
    const format = item.format ?? 'distribution';
    if (format !== 'distribution' && format !== 'cloudevents') throw new ConfigError(`${where}.format: must be distribution or cloudevents`);
    const timeout = item.timeout ?? '5s';
    const timeoutMs = typeof timeout === 'string' && DURATION.test(timeout) ? parseDuration(timeout) : undefined;
    if (timeoutMs === undefined || timeoutMs < 100 || timeoutMs > 300_000) throw new ConfigError(`${where}.timeout: must be a duration from 100ms to 5m, like 5s`);
    return {
      name: item.name,
      url: url.href,
      secret,
      events: [...new Set(events)] as EventCategory[],
      repositories: stringList(item.repositories, `${where}.repositories`, ['*']),
      format,
      headers: checkHeaders(item.headers, `${where}.headers`),
      timeoutMs,
    };
  });
}

export const NOTIFICATIONS_SCHEMA: Field = {
  kind: 'object',
  fields: {
    endpoints: { kind: 'custom', default: [], check: checkEndpoints },
    journal: { kind: 'boolean', default: true },
    retention: { kind: 'string', default: '90d', pattern: DURATION, hint: DURATION_HINT },
    backlog: { kind: 'integer', default: 10_000, min: 1, max: 10_000_000 },
    backoff: {
      kind: 'object',
      fields: {
        initial: { kind: 'string', default: '1s', pattern: DURATION, hint: DURATION_HINT },
        max: { kind: 'string', default: '5m', pattern: DURATION, hint: DURATION_HINT },
      },
    },
    lease: { kind: 'string', default: '15s', pattern: DURATION, hint: DURATION_HINT },
    poll: { kind: 'string', default: '2s', pattern: DURATION, hint: DURATION_HINT },
  },
};

/** The durations of the section in milliseconds (checked by the schema, so they parse). */
export interface Timings {
  retentionMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  leaseMs: number;
  pollMs: number;
}

export function timings(config: NotificationsConfig): Timings {
  const ms = (text: string, key: string, min: number): number => {
    const value = parseDuration(text);
    if (value === undefined || value < min) throw new ConfigError(`notifications.${key}: must be at least ${min} ms (got ${text})`);
    return value;
  };
  const result = {
    retentionMs: ms(config.retention, 'retention', 3_600_000),
    backoffInitialMs: ms(config.backoff.initial, 'backoff.initial', 10),
    backoffMaxMs: ms(config.backoff.max, 'backoff.max', 10),
    leaseMs: ms(config.lease, 'lease', 1000),
    pollMs: ms(config.poll, 'poll', 50),
  };
  if (result.backoffMaxMs < result.backoffInitialMs) throw new ConfigError('notifications.backoff.max: must be at least backoff.initial');
  return result;
}
