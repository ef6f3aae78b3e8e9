/**
 * Robot tokens: long-lived secrets for CI, made by `berth token create`, used as the password of
 * their user (`docker login -u alice -p berth_...`). A robot token can do at most what its scope
 * patterns say, and never more than its user may.
 *
 * Records live in storage at `/_berth/auth/tokens/<id>.json`, so every replica on one bucket sees
 * them. Only a SHA-256 of the secret is kept: the secret carries 256 random bits, so a fast hash is
 * enough (no password to stretch), and it is compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type StorageDriver, PathNotFoundError } from '../../storage-drivers/driver.js';
import { compileGlob } from '../util/index.js';

export const ROBOT_DIR = '/_berth/auth/tokens';

export interface RobotScope {
  type: 'repository' | 'registry';
  /** A repository pattern (`team/*`), or `catalog` for the registry type. */
  pattern: string;
  /** `pull`, `push`, `delete`, or `*` for all of them. */
  actions: string[];
}

export interface RobotRecord {
  id: string;
  user: string;
  scopes: RobotScope[];
  /** `sha256:<hex>` of the whole secret. */
  hash: string;
  created: string;
  /** ISO time, or null for a token that does not expire. */
  expires: string | null;
  description?: string;
}

export class RobotScopeError extends Error {}

export type RobotCheck =
  | { ok: true; record: RobotRecord }
  | { ok: false; id?: string; reason: 'not a token' | 'revoked' | 'wrong secret' | 'another user' }
  /** Only when the secret is right: whoever holds it may hear that it expired. */
  | { ok: false; id: string; reason: 'expired'; expires: string };

/**
 * Why a robot-token secret was refused, as the caller may hear it: its record is gone (revoked;
 * a secret of the robot format whose record never existed reads the same, so nothing leaks), or
 * the secret is right and the token expired. Undefined for anything else (a wrong secret).
 */
export function refusalForCaller(check: RobotCheck): string | undefined {
  if (check.ok) return undefined;
  if (check.reason === 'revoked') return `robot token ${check.id} was revoked (or never existed)`;
  if (check.reason === 'expired') return `robot token ${check.id} expired at ${check.expires}`;
  return undefined;
}

const ID = /^[a-z0-9]{16}$/;
const SECRET = /^berth_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const REPOSITORY_PATTERN = /^[a-z0-9._/*-]{1,255}$/;
const REPOSITORY_ACTIONS = new Set(['pull', 'push', 'delete', '*']);

/** `repository:team/*:pull,push` or `registry:catalog:*`. */
export function parseRobotScope(text: string): RobotScope {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) throw new RobotScopeError(`invalid scope ${JSON.stringify(text)}: want repository:PATTERN:ACTIONS or registry:catalog:*`);
  const type = text.slice(0, first);
  const pattern = text.slice(first + 1, last);
  const actions = [...new Set(text.slice(last + 1).split(','))];
  if (type === 'registry') {
    if (pattern !== 'catalog' || actions.join() !== '*') throw new RobotScopeError(`invalid scope ${JSON.stringify(text)}: the registry scope is registry:catalog:*`);
    return { type, pattern, actions };
  }
  if (type !== 'repository') throw new RobotScopeError(`invalid scope ${JSON.stringify(text)}: type must be repository or registry`);
  if (!REPOSITORY_PATTERN.test(pattern)) throw new RobotScopeError(`invalid scope ${JSON.stringify(text)}: bad repository pattern (lower-case names, / and *)`);
  if (!actions.every((a) => REPOSITORY_ACTIONS.has(a))) throw new RobotScopeError(`invalid scope ${JSON.stringify(text)}: actions are pull, push, delete or *`);
  return { type, pattern, actions };
}

export function formatRobotScope(scope: RobotScope): string {
  return `${scope.type}:${scope.pattern}:${scope.actions.join(',')}`;
}

/** Whether the robot's scope patterns allow `action` on a resource. */
export function robotAllows(record: RobotRecord, type: 'repository' | 'registry', name: string, action: string): boolean {
  return record.scopes.some(
    (scope) => scope.type === type && (scope.actions.includes('*') || scope.actions.includes(action)) && compileGlob(scope.pattern).test(name),
  );
}

export function isExpired(record: RobotRecord, now = Date.now()): boolean {
  return record.expires !== null && Date.parse(record.expires) <= now;
}

/** The id inside a robot secret, or undefined when the text is not one. */
export function robotIdOf(secret: string): string | undefined {
  return SECRET.exec(secret)?.[1];
}

function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

function newId(): string {
  // 16 characters of [a-z0-9] (about 80 bits): ids are not secrets, just unique.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join('');
}

function pathOf(id: string): string {
  if (!ID.test(id)) throw new RobotScopeError(`invalid token id ${JSON.stringify(id)}`);
  return `${ROBOT_DIR}/${id}.json`;
}

/** How long a replica trusts what it read about a robot token (a revocation takes this long). */
const CACHE_MS = 10_000;
const CACHE_MAX = 1000;

export class RobotStore {
  private readonly cache = new Map<string, { record: RobotRecord | undefined; until: number }>();
  private readonly reading = new Map<string, Promise<RobotRecord | undefined>>();

  constructor(private readonly driver: StorageDriver) {}

  async create(options: { user: string; scopes: RobotScope[]; expiresIn: number | null; description?: string }): Promise<{ record: RobotRecord; secret: string }> {
    const id = newId();
    const secret = `berth_${id}_${randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    const record: RobotRecord = {
      id,
      user: options.user,
      scopes: options.scopes,
      hash: hashSecret(secret),
      created: new Date(now).toISOString(),
      expires: options.expiresIn === null ? null : new Date(now + options.expiresIn * 1000).toISOString(),
      ...(options.description ? { description: options.description } : {}),
    };
    if (!(await this.driver.putContentIfAbsent(pathOf(id), Buffer.from(JSON.stringify(record, null, 2))))) {
      throw new Error('token id collision; try again');
    }
    return { record, secret };
  }

  /** The stored record, or undefined. */
  async get(id: string): Promise<RobotRecord | undefined> {
    try {
      return JSON.parse((await this.driver.getContent(pathOf(id))).toString('utf8')) as RobotRecord;
    } catch (err) {
      if (err instanceof PathNotFoundError || err instanceof RobotScopeError) return undefined;
      throw err;
    }
  }

  /**
   * The record while the token is usable (not revoked, not expired), read now: a revocation
   * counts at once. Concurrent reads of one id share one storage read.
   */
  async current(id: string): Promise<RobotRecord | undefined> {
    let reading = this.reading.get(id);
    if (!reading) {
      reading = this.get(id).finally(() => this.reading.delete(id));
      this.reading.set(id, reading);
    }
    const record = await reading;
    return record && !isExpired(record) ? record : undefined;
  }

  /**
   * Like `current`, cached for a few seconds: for the registry's per-request check, where a
   * storage read per request would cost too much. A revocation reaches it within CACHE_MS.
   */
  async active(id: string): Promise<RobotRecord | undefined> {
    const now = Date.now();
    let hit = this.cache.get(id);
    if (!hit || hit.until <= now) {
      hit = { record: await this.get(id), until: now + CACHE_MS };
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(id, hit);
    }
    return hit.record && !isExpired(hit.record, now) ? hit.record : undefined;
  }

  /**
   * Whether `secret` is a live robot token of `user`, and if not, why (for the log: a revoked
   * token still used by CI is worth naming).
   */
  async check(user: string, secret: string): Promise<RobotCheck> {
    const id = robotIdOf(secret);
    if (!id) return { ok: false, reason: 'not a token' };
    const record = await this.get(id);
    if (!record) return { ok: false, id, reason: 'revoked' };
    const want = Buffer.from(record.hash.replace(/^sha256:/, ''), 'hex');
    const got = Buffer.from(hashSecret(secret).replace(/^sha256:/, ''), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, id, reason: 'wrong secret' };
    if (record.user !== user) return { ok: false, id, reason: 'another user' };
    if (isExpired(record)) return { ok: false, id, reason: 'expired', expires: record.expires! };
    return { ok: true, record };
  }

  /** The record when `secret` is a live robot token of `user`, else undefined. */
  async verify(user: string, secret: string): Promise<RobotRecord | undefined> {
    const checked = await this.check(user, secret);
    return checked.ok ? checked.record : undefined;
  }


  /** Deletes the record; false when there was none. */
  async revoke(id: string): Promise<boolean> {
    this.cache.delete(id);
    try {
      await this.driver.delete(pathOf(id));
      return true;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  }

  async list(): Promise<RobotRecord[]> {
    let paths: string[];
    try {
      paths = await this.driver.list(ROBOT_DIR);
    } catch (err) {
      if (err instanceof PathNotFoundError) return [];
      throw err;
    }
    const records: RobotRecord[] = [];
    for (const path of paths) {
      const id = /\/([a-z0-9]{16})\.json$/.exec(path)?.[1];
      const record = id && (await this.get(id));
      if (record) records.push(record);
    }
    return records.sort((a, b) => a.created.localeCompare(b.created));
  }
}
