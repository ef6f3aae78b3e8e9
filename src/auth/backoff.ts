/**
 * Failed logins slow a user name down: after `freeAttempts` failures in a row, each further
 * attempt must wait `baseDelayMs`, doubling per failure up to `maxDelayMs`. An attempt inside the
 * wait is refused without checking the password (429 + Retry-After), so parallel guessing gains
 * nothing and costs no bcrypt time. A success clears the name; so does `forgetAfter` quiet seconds.
 *
 * Compromises, named: the state is per process (replicas each count on their own), and it is
 * bounded (the oldest names are dropped first), so a flood of names can reset a victim's count.
 * The wait is also a lock-out for the real user for up to `maxDelayMs`: hence the bound.
 */
import type { LoginBackoffConfig } from './config.js';

interface Failures {
  count: number;
  last: number;
}

const MAX_NAMES = 10_000;

export class LoginBackoff {
  private readonly failures = new Map<string, Failures>();

  constructor(
    private readonly config: LoginBackoffConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds `name` must still wait before its next attempt; 0 when it may try now. */
  wait(name: string): number {
    const entry = this.current(name);
    if (!entry) return 0;
    const delay = this.delayAfter(entry.count);
    return Math.max(0, entry.last + delay - this.now());
  }

  /** The wait that follows `count` failures in a row. */
  delayAfter(count: number): number {
    const { freeAttempts, baseDelayMs, maxDelayMs } = this.config;
    if (count < freeAttempts) return 0;
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(count - freeAttempts, 30));
  }

  failed(name: string): void {
    const entry = this.current(name) ?? { count: 0, last: 0 };
    entry.count += 1;
    entry.last = this.now();
    this.failures.delete(name);
    this.failures.set(name, entry);
    if (this.failures.size > MAX_NAMES) this.failures.delete(this.failures.keys().next().value as string);
  }

  succeeded(name: string): void {
    this.failures.delete(name);
  }

  private current(name: string): Failures | undefined {
    const entry = this.failures.get(name);
    if (entry && this.now() - entry.last > Math.max(this.config.forgetAfter * 1000, this.config.maxDelayMs)) {
      this.failures.delete(name);
      return undefined;
    }
    return entry;
  }
}
