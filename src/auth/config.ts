/**
 * The `auth:` section of the config: its schema (checked by src/config.ts with every other key)
 * and its type.
 */
import { ConfigError, type Field } from '../config-schema.js';
import type { Action } from './permissions.js';
import { parseExpiry } from './expiry.js';

export type Subject = { anonymous: Action[] } | { authenticated: Action[] } | { user: string; actions: Action[] } | { team: string; actions: Action[] };

/** A rule: the first whose `repository` pattern matches and whose subject names the caller decides. */
export type AccessRule = { repository: string } & Subject;

export type SigningAlgorithm = 'ES256' | 'RS256';

export interface LoginBackoffConfig {
  /** Failed logins in a row for one user name before attempts are slowed down. */
  freeAttempts: number;
  /** The first wait after the free attempts (ms); it doubles with every further failure. */
  baseDelayMs: number;
  /** The longest wait (ms): the bound. */
  maxDelayMs: number;
  /** A user name with no failure for this long starts again with free attempts (seconds). */
  forgetAfter: number;
}

/** bcrypt runs on worker threads, never on the event loop; these bound how much of it may wait. */
export interface PasswordChecksConfig {
  /** Threads that compare passwords; 0: one less than the CPUs, at least 1. */
  threads: number;
  /** Checks running or waiting, all clients together; beyond: 429 with Retry-After. */
  maxPending: number;
  /** Checks running or waiting from one client address; beyond: 429 with Retry-After. */
  maxPendingPerClient: number;
}

export interface ExternalIssuerConfig {
  /** The `iss` of the other token server's tokens; empty: no external issuer. */
  issuer: string;
  /** Its public keys as a JWKS file. */
  jwksFile: string;
  /** Or its PEM certificate(s) (a bundle may hold several). */
  certificateFile: string;
}

export interface AuthConfig {
  mode: 'none' | 'token';
  /**
   * Set by the loader: whether `mode` was given (file or environment) rather than defaulted. A
   * defaulted `none` off loopback serves pulls only (see src/auth/index.ts).
   */
  modeGiven?: boolean;
  /** The JWT audience and the challenge's `service`. */
  service: string;
  issuer: string;
  /** Token endpoint URL; empty: built from the request's Host + /token. */
  realm: string;
  /**
   * Deprecated (use `trustedProxies`): believe X-Forwarded-* from every address, as if
   * `trustedProxies` held 0.0.0.0/0 and ::/0. Logged as a warning at start.
   */
  trustForwardedHeaders: boolean;
  /** A private key file (PEM or JWK); empty: a key generated once and kept in storage. */
  signingKeyFile: string;
  signingAlgorithm: SigningAlgorithm;
  /** Lifetime of access tokens (seconds). */
  tokenTtl: number;
  /** Lifetime of refresh tokens (`offline_token`, docker's stored identity token), seconds. */
  refreshTokenTtl: number;
  /** Clock skew allowed when checking exp/nbf (seconds). */
  clockSkew: number;
  /** Expiry of a robot token when `berth token create` has no --expires (`30d`, `12h`, `never`). */
  robotTokenExpiry: string;
  usersFile: string;
  teams: Record<string, string[]>;
  rules: AccessRule[];
  /**
   * Users with admin rights over HTTP (the console's admin page, `/api/admin/...`): storage per
   * repository, a gc dry run, robot tokens, every event. Robot tokens are never admins.
   */
  admins: string[];
  loginBackoff: LoginBackoffConfig;
  passwordChecks: PasswordChecksConfig;
  external: ExternalIssuerConfig;
}

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

function actions(value: unknown, key: string): Action[] {
  if (!Array.isArray(value) || !value.every((a) => typeof a === 'string' && (ACTIONS as string[]).includes(a))) {
    throw new ConfigError(`${key}: must be a list of ${ACTIONS.join(', ')}`);
  }
  return value as Action[];
}

function checkTeams(value: unknown, key: string): Record<string, string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${key}: must map team names to lists of users`);
  for (const [team, members] of Object.entries(value)) {
    if (!Array.isArray(members) || !members.every((m) => typeof m === 'string')) throw new ConfigError(`${key}.${team}: must be a list of user names`);
  }
  return value as Record<string, string[]>;
}

function checkAdmins(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || !value.every((m) => typeof m === 'string' && m !== '')) throw new ConfigError(`${key}: must be a list of user names`);
  return value as string[];
}

function checkRules(value: unknown, key: string): AccessRule[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: must be a list of rules`);
  return value.map((rule, i) => {
    const where = `${key}[${i}]`;
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw new ConfigError(`${where}: must be a map`);
    const r = rule as Record<string, unknown>;
    if (typeof r.repository !== 'string' || r.repository === '') throw new ConfigError(`${where}.repository: must be a repository pattern`);
    const subjects = ['anonymous', 'authenticated', 'user', 'team'].filter((s) => s in r);
    if (subjects.length !== 1) throw new ConfigError(`${where}: needs exactly one of anonymous, authenticated, user, team`);
    const allowed = new Set(['repository', 'actions', ...subjects]);
    for (const k of Object.keys(r)) if (!allowed.has(k)) throw new ConfigError(`${where}.${k}: unknown key`);
    const subject = subjects[0]!;
    if (subject === 'anonymous' || subject === 'authenticated') {
      if ('actions' in r) throw new ConfigError(`${where}.actions: put the actions in ${subject}: [...]`);
      return { repository: r.repository, [subject]: actions(r[subject], `${where}.${subject}`) } as AccessRule;
    }
    if (typeof r[subject] !== 'string') throw new ConfigError(`${where}.${subject}: must be a name`);
    return { repository: r.repository, [subject]: r[subject], actions: actions(r.actions, `${where}.actions`) } as AccessRule;
  });
}

const DURATION = /^(never|\d{1,15}[smhdwy]?)$/;

export const AUTH_SCHEMA: Field = {
  kind: 'object',
  fields: {
    mode: { kind: 'enum', default: 'none', values: ['none', 'token'] },
    service: { kind: 'string', default: 'berth', pattern: /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/, hint: 'must be printable, without spaces, quotes or backslashes' },
    issuer: { kind: 'string', default: 'berth', pattern: /^\S{1,200}$/, hint: 'must be non-empty, without spaces' },
    realm: { kind: 'string', default: '', pattern: /^(|https?:\/\/[^\s"\\]+)$/, hint: 'must be an http(s) URL or empty' },
    trustForwardedHeaders: { kind: 'boolean', default: false },
    signingKeyFile: { kind: 'path', default: '', optional: true },
    signingAlgorithm: { kind: 'enum', default: 'ES256', values: ['ES256', 'RS256'] },
    tokenTtl: { kind: 'integer', default: 300, min: 60, max: 86_400 },
    refreshTokenTtl: { kind: 'integer', default: 30 * 86_400, min: 0, max: 365 * 86_400 },
    clockSkew: { kind: 'integer', default: 30, min: 0, max: 600 },
    robotTokenExpiry: { kind: 'string', default: '90d', pattern: DURATION, hint: 'must be a duration like 30d, 12h, 90m, 2w, 1y, or never' },
    usersFile: { kind: 'path', default: './users.htpasswd' },
    teams: { kind: 'custom', default: {}, check: checkTeams },
    rules: { kind: 'custom', default: [], check: checkRules },
    admins: { kind: 'custom', default: [], check: checkAdmins },
    loginBackoff: {
      kind: 'object',
      fields: {
        freeAttempts: { kind: 'integer', default: 5, min: 1, max: 1000 },
        baseDelayMs: { kind: 'integer', default: 1000, min: 1, max: 3_600_000 },
        maxDelayMs: { kind: 'integer', default: 60_000, min: 1, max: 3_600_000 },
        forgetAfter: { kind: 'integer', default: 900, min: 1, max: 86_400 },
      },
    },
    passwordChecks: {
      kind: 'object',
      fields: {
        threads: { kind: 'integer', default: 0, min: 0, max: 64 },
        maxPending: { kind: 'integer', default: 64, min: 1, max: 100_000 },
        maxPendingPerClient: { kind: 'integer', default: 8, min: 1, max: 100_000 },
      },
    },
    external: {
      kind: 'object',
      fields: {
        issuer: { kind: 'string', default: '' },
        jwksFile: { kind: 'path', default: '', optional: true },
        certificateFile: { kind: 'path', default: '', optional: true },
      },
    },
  },
};

/** Checks that go across keys, run when auth starts (the schema checks one key at a time). */
export function checkAuthConfig(config: AuthConfig): void {
  try {
    parseExpiry(config.robotTokenExpiry);
  } catch (err) {
    throw new ConfigError(`config: auth.robotTokenExpiry: ${(err as Error).message}`);
  }
  if (config.loginBackoff.maxDelayMs < config.loginBackoff.baseDelayMs) {
    throw new ConfigError('config: auth.loginBackoff.maxDelayMs: must be at least baseDelayMs');
  }
  const external = config.external;
  if (external.issuer) {
    if (external.issuer === config.issuer) throw new ConfigError('config: auth.external.issuer: must differ from auth.issuer');
    if (!external.jwksFile && !external.certificateFile) {
      throw new ConfigError('config: auth.external: set jwksFile or certificateFile for the external issuer');
    }
  } else if (external.jwksFile || external.certificateFile) {
    throw new ConfigError('config: auth.external.issuer: must be set when jwksFile or certificateFile is');
  }
}
