/**
 * The `auth:` section of the config: its schema (checked by src/config.ts with every other key)
 * and its type.
 */
import { ConfigError, type Field } from '../config-schema.js';
import type { Action } from './permissions.js';

export type Subject = { anonymous: Action[] } | { authenticated: Action[] } | { user: string; actions: Action[] } | { team: string; actions: Action[] };

/** A rule: the first whose `repository` pattern matches and whose subject names the caller decides. */
export type AccessRule = { repository: string } & Subject;

export interface AuthConfig {
  mode: 'none' | 'token';
  /** The JWT audience and the challenge's `service`. */
  service: string;
  issuer: string;
  /** Token endpoint URL; empty: built from the request's Host + /token. */
  realm: string;
  /** A private key file (PEM or JWK); empty: a key generated once and kept in storage. */
  signingKeyFile: string;
  usersFile: string;
  teams: Record<string, string[]>;
  rules: AccessRule[];
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

export const AUTH_SCHEMA: Field = {
  kind: 'object',
  fields: {
    mode: { kind: 'enum', default: 'none', values: ['none', 'token'] },
    service: { kind: 'string', default: 'berth' },
    issuer: { kind: 'string', default: 'berth' },
    realm: { kind: 'string', default: '', pattern: /^(|https?:\/\/\S+)$/, hint: 'must be an http(s) URL or empty' },
    signingKeyFile: { kind: 'string', default: '' },
    usersFile: { kind: 'path', default: './users.htpasswd' },
    teams: { kind: 'custom', default: {}, check: checkTeams },
    rules: { kind: 'custom', default: [], check: checkRules },
  },
};
