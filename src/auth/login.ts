/**
 * Signing in with a name and a password, where the password may also be a robot token of that
 * user. Failures count toward a backoff: per user name for passwords, per token id for robot
 * tokens (a revoked token still used by CI must not lock its human out). Attempts are admitted by
 * the backoff before the check, so guesses in flight count too; a refused attempt does no password
 * work at all. bcrypt runs on worker threads, bounded per client address (password-checks.ts).
 *
 * Names are logged only when they are real users (a password typed into the name field must not
 * end up in the logs); robot tokens by the start of their id, which is not secret.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { LoginBackoff } from './backoff.js';
import type { UserPrincipal } from './grants.js';
import { PasswordChecksBusy, type PasswordChecker } from './password-checks.js';
import { type RobotCheck, type RobotStore, refusalForCaller, robotIdOf } from './robots.js';
import type { RefreshClaims } from './token.js';
import { hashFingerprint, isValidUserName, type UserStore } from './users.js';

/** Why a sign-in was refused before its password was checked: the answer is 429 + Retry-After. */
export interface LoginRefusal {
  retryAfterMs: number;
  message: string;
}

/** The refusal as both endpoints answer it: whole seconds for Retry-After, and the message. */
export function describeRefusal(refusal: LoginRefusal): { seconds: number; message: string } {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  return { seconds, message: `${refusal.message}: retry in ${seconds}s` };
}

/**
 * `refused`: turned away before any check (429); `reason`: why the check failed, when saying so
 * helps the caller and reveals nothing (a revoked or expired robot token).
 */
export type LoginResult = { ok: true; principal: UserPrincipal } | { ok: false; refused?: LoginRefusal; reason?: string };

const MAX_PASSWORD_LENGTH = 4096;

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A robot token as logs name it: the start of its id. */
export function tokenLabel(id: string): string {
  return `${id.slice(0, 4)}...`;
}

export class Authenticator {
  constructor(
    private readonly users: UserStore,
    private readonly robots: RobotStore,
    private readonly backoff: LoginBackoff,
    private readonly checker: PasswordChecker,
    private readonly log: Logger,
    /** Told of every sign-in's outcome (metrics). */
    private readonly onResult: (result: 'success' | 'failure' | 'throttled') => void = () => {},
  ) {}

  /** `client` is the caller's address (the bound on password checks in flight is per address). */
  async login(name: string, password: string, via: string, client: string): Promise<LoginResult> {
    const robotId = robotIdOf(password);
    const key = robotId ? `token:${robotId}` : `user:${name.slice(0, 128)}`;
    const admission = await this.backoff.begin(key);
    if (!admission.ok) {
      this.log.warn({ user: robotId ? undefined : await this.knownName(name), robotToken: robotId && tokenLabel(robotId), via, retryAfterMs: admission.retryAfterMs }, 'sign-in refused: too many failures');
      this.onResult('throttled');
      return { ok: false, refused: { retryAfterMs: admission.retryAfterMs, message: `too many failed sign-ins for this ${robotId ? 'token' : 'user'}` } };
    }
    let outcome: { principal?: UserPrincipal; reason?: string };
    try {
      outcome = robotId ? await this.robotLogin(name, password, via) : { principal: await this.passwordLogin(name, password, client) };
    } catch (err) {
      admission.attempt.cancel(); // not judged: it does not count
      if (err instanceof PasswordChecksBusy) {
        this.log.warn({ via, client, limit: err.scope }, 'sign-in refused: too many password checks in flight');
        this.onResult('throttled');
        return { ok: false, refused: { retryAfterMs: err.retryAfterMs, message: err.message } };
      }
      throw err;
    }
    const { principal, reason } = outcome;
    admission.attempt.end(principal !== undefined);
    this.onResult(principal ? 'success' : 'failure');
    if (principal) return { ok: true, principal };
    if (!robotId) {
      const user = await this.knownName(name);
      this.log.warn({ user, knownUser: user !== undefined, via }, 'sign-in failed');
    }
    return reason ? { ok: false, reason } : { ok: false };
  }

  private async passwordLogin(name: string, password: string, client: string): Promise<UserPrincipal | undefined> {
    if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return undefined;
    // Invalid names still cost a bcrypt comparison (against a dummy hash): no timing oracle.
    const ok = await this.users.verify(isValidUserName(name) ? name : '', password, (p, h) => this.checker.compare(client, p, h));
    if (!ok) return undefined;
    const hash = await this.users.hashOf(name);
    return hash ? { name, fingerprint: hashFingerprint(hash) } : undefined;
  }

  /** The principal, or why not: for the log always, for the caller when that reveals nothing (refusalForCaller). */
  private async robotLogin(name: string, secret: string, via: string): Promise<{ principal?: UserPrincipal; reason?: string }> {
    const checked: RobotCheck = isValidUserName(name) ? await this.robots.check(name, secret) : { ok: false, reason: 'another user', id: robotIdOf(secret) };
    if (checked.ok && (await this.users.exists(name))) return { principal: { name, robot: checked.record } };
    const reason = checked.ok ? 'its user was removed' : checked.reason;
    const label = tokenLabel(robotIdOf(secret)!);
    this.log.warn({ robotToken: label, user: await this.knownName(name), via, reason }, `sign-in failed: ${reason === 'revoked' ? `revoked token ${label}` : `token ${label}: ${reason}`}`);
    return { reason: refusalForCaller(checked) };
  }

  /** `name` when it is a real user (safe to log), else undefined. */
  private async knownName(name: string): Promise<string | undefined> {
    return isValidUserName(name) && (await this.users.exists(name)) ? name : undefined;
  }

  /**
   * Whether a principal signed in earlier still stands (its user not removed, its password not
   * changed, its robot token not revoked or expired): what a cached Basic check asks on every
   * hit, so removals and revocations count at once. A stat of the users file, and for a robot
   * token one storage read.
   */
  async stillValid(principal: UserPrincipal): Promise<UserPrincipal | undefined> {
    const hash = await this.users.hashOf(principal.name);
    if (!hash) return undefined;
    if (principal.robot) {
      const robot = await this.robots.current(principal.robot.id);
      return robot && robot.user === principal.name ? { name: principal.name, robot } : undefined;
    }
    return principal.fingerprint && sameString(principal.fingerprint, hashFingerprint(hash)) ? principal : undefined;
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
