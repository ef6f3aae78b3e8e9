/**
 * Signing in with a name and a password, where the password may also be a robot token of that
 * user. Every failure counts toward the name's backoff; a refused attempt during the backoff does
 * no password work at all. Names are logged only when they are real users (a password typed into
 * the name field must not end up in the logs).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { LoginBackoff } from './backoff.js';
import type { UserPrincipal } from './grants.js';
import { type RobotStore, robotIdOf } from './robots.js';
import type { RefreshClaims } from './token.js';
import { hashFingerprint, isValidUserName, type UserStore } from './users.js';

/** `reason`: why, when saying so helps the caller and reveals nothing (a revoked or expired robot token). */
export type LoginResult = { ok: true; principal: UserPrincipal } | { ok: false; retryAfterMs?: number; reason?: string };

const MAX_PASSWORD_LENGTH = 4096;

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Authenticator {
  constructor(
    private readonly users: UserStore,
    private readonly robots: RobotStore,
    private readonly backoff: LoginBackoff,
    private readonly log: Logger,
    /** Told of every sign-in's outcome (metrics). */
    private readonly onResult: (result: 'success' | 'failure' | 'throttled') => void = () => {},
  ) {}

  async login(name: string, password: string, via: string): Promise<LoginResult> {
    const key = name.slice(0, 128);
    const wait = this.backoff.wait(key);
    if (wait > 0) {
      this.log.warn({ user: (await this.users.exists(name)) ? name : undefined, via, retryAfterMs: wait }, 'sign-in refused: too many failures');
      this.onResult('throttled');
      return { ok: false, retryAfterMs: wait };
    }
    const principal = await this.check(name, password);
    if (principal) {
      this.backoff.succeeded(key);
      this.onResult('success');
      return { ok: true, principal };
    }
    this.backoff.failed(key);
    this.onResult('failure');
    const known = isValidUserName(name) && (await this.users.exists(name));
    const reason = await this.robots.whyRefused(name, password);
    this.log.warn({ user: known ? name : undefined, knownUser: known, via, ...(reason ? { reason } : {}) }, 'sign-in failed');
    return reason ? { ok: false, reason } : { ok: false };
  }

  private async check(name: string, password: string): Promise<UserPrincipal | undefined> {
    if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return undefined;
    if (robotIdOf(password)) {
      if (!isValidUserName(name)) return undefined;
      const robot = await this.robots.verify(name, password);
      return robot && (await this.users.exists(name)) ? { name, robot } : undefined;
    }
    // Invalid names still cost a bcrypt comparison (against a dummy hash): no timing oracle.
    const ok = await this.users.verify(isValidUserName(name) ? name : '', password);
    if (!ok) return undefined;
    const hash = await this.users.hashOf(name);
    return hash ? { name, fingerprint: hashFingerprint(hash) } : undefined;
  }

  /** The principal behind a refresh token, while its user (and robot token) still stand. */
  async fromRefresh(claims: RefreshClaims): Promise<UserPrincipal | undefined> {
    const hash = await this.users.hashOf(claims.subject);
    if (!hash) return undefined;
    if (claims.robot) {
      const robot = await this.robots.current(claims.robot); // uncached: a revocation counts at once
      return robot && robot.user === claims.subject ? { name: claims.subject, robot } : undefined;
    }
    const fingerprint = hashFingerprint(hash);
    return claims.fingerprint && sameString(claims.fingerprint, fingerprint) ? { name: claims.subject, fingerprint } : undefined;
  }
}
