/**
 * Failed logins slow a key down (a user name, or a robot token's id): after `freeAttempts`
 * failures in a row, each further attempt must wait `baseDelayMs`, doubling per failure up to
 * `maxDelayMs`. An attempt inside the wait is refused without checking the password (429 +
 * Retry-After). A success clears the key; so does `forgetAfter` quiet seconds.
 *
 * Attempts in flight count: an attempt is admitted (`begin`) before its password is checked, and
 * once the attempts in flight and the failures together reach the free attempts, a new attempt
 * waits for those in flight to end and is then judged by their outcome. So guesses sent in
 * parallel get no more checks than guesses sent one after the other, while a client that signs in
 * correctly several times at once only waits a moment.
 *
 * Compromises, named: the state is per process (replicas each count on their own), and it is
 * bounded (the oldest idle keys are dropped first), so a flood of names can reset a victim's
 * count. The wait is also a lock-out for the real user for up to `maxDelayMs`: hence the bound.
 */
import type { LoginBackoffConfig } from './config.js';

interface Entry {
  /** Failures in a row. */
  count: number;
  /** When the last failure ended. */
  last: number;
  /** Attempts admitted and not ended yet. */
  pending: number;
  /** Attempts waiting for those in flight to end. */
  waiters: (() => void)[];
}

/** An admitted attempt: end it with its outcome, or cancel it when it could not be judged. */
export interface Attempt {
  end(ok: boolean): void;
  cancel(): void;
}

export type Admission = { ok: true; attempt: Attempt } | { ok: false; retryAfterMs: number };

const MAX_KEYS = 10_000;
/** Attempts that may wait on one key; more are refused at once. */
const MAX_WAITERS = 64;

export class LoginBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly config: LoginBackoffConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds `key` must still wait before its next attempt; 0 when it may try now. */
  wait(key: string): number {
    const entry = this.current(key);
    if (!entry) return 0;
    return Math.max(0, entry.last + this.delayAfter(entry.count) - this.now());
  }

  /** The wait that follows `count` failures in a row. */
  delayAfter(count: number): number {
    const { freeAttempts, baseDelayMs, maxDelayMs } = this.config;
    if (count < freeAttempts) return 0;
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(count - freeAttempts, 30));
  }

  /** Admits an attempt on `key` (perhaps after those in flight end), or refuses it with the wait. */
  async begin(key: string): Promise<Admission> {
    for (;;) {
      const wait = this.wait(key);
      if (wait > 0) return { ok: false, retryAfterMs: wait };
      const entry = this.entry(key);
      if (entry.pending === 0 || entry.count + entry.pending < this.config.freeAttempts) {
        entry.pending += 1;
        return { ok: true, attempt: this.attempt(key, entry) };
      }
      if (entry.waiters.length >= MAX_WAITERS) return { ok: false, retryAfterMs: Math.max(1000, this.config.baseDelayMs) };
      await new Promise<void>((resolve) => entry.waiters.push(resolve));
    }
  }

  /** Records a failure that was not admitted through `begin` (tests, other callers). */
  failed(key: string): void {
    const entry = this.entry(key);
    entry.count += 1;
    entry.last = this.now();
  }

  succeeded(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.count = 0;
    this.dropIfIdle(key, entry);
  }

  private attempt(key: string, entry: Entry): Attempt {
    let ended = false;
    const finish = (outcome: 'ok' | 'failed' | 'cancelled'): void => {
      if (ended) return;
      ended = true;
      entry.pending -= 1;
      if (outcome === 'ok') entry.count = 0;
      if (outcome === 'failed') {
        entry.count += 1;
        entry.last = this.now();
      }
      for (const wake of entry.waiters.splice(0)) wake();
      if (this.entries.get(key) === entry) this.dropIfIdle(key, entry);
    };
    return { end: (ok) => finish(ok ? 'ok' : 'failed'), cancel: () => finish('cancelled') };
  }

  private dropIfIdle(key: string, entry: Entry): void {
    if (entry.count === 0 && entry.pending === 0 && entry.waiters.length === 0) this.entries.delete(key);
  }

  /** The key's entry, made when missing; the most recently used keys are kept longest. */
  private entry(key: string): Entry {
    let entry = this.current(key);
    if (entry) {
      this.entries.delete(key);
    } else {
      entry = { count: 0, last: 0, pending: 0, waiters: [] };
      if (this.entries.size >= MAX_KEYS) this.evictOne();
    }
    this.entries.set(key, entry);
    return entry;
  }

  /** Drops the oldest key with nothing in flight. */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      if (entry.pending === 0 && entry.waiters.length === 0) {
        this.entries.delete(key);
        return;
      }
    }
  }

  private current(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    const quiet = Math.max(this.config.forgetAfter * 1000, this.config.maxDelayMs);
    if (entry && entry.pending === 0 && entry.waiters.length === 0 && this.now() - entry.last > quiet) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
