/** Failed sign-ins slow one user name down: free attempts, then a doubling, bounded wait. */
import { describe, expect, it } from 'vitest';
import { LoginBackoff } from '../../src/auth/backoff.js';
import { parseExpiry } from '../../src/auth/expiry.js';

describe('login backoff', () => {
  const config = { freeAttempts: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfter: 60 };

  it('waits 0 for the free attempts, then 1s, 2s, 4s, 8s, 8s (the bound)', () => {
    let now = 1_000_000;
    const backoff = new LoginBackoff(config, () => now);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      waits.push(backoff.wait('alice'));
      now += backoff.wait('alice'); // the caller waits as told, then fails again
      backoff.failed('alice');
    }
    expect(waits).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
    expect(backoff.wait('bob')).toBe(0); // per user name
  });

  it('counts down while waiting, clears on success, and forgets after a quiet while', () => {
    let now = 0;
    const backoff = new LoginBackoff(config, () => now);
    for (let i = 0; i < 4; i++) backoff.failed('alice');
    expect(backoff.wait('alice')).toBe(2000);
    now += 1500;
    expect(backoff.wait('alice')).toBe(500);
    backoff.succeeded('alice');
    expect(backoff.wait('alice')).toBe(0);
    for (let i = 0; i < 4; i++) backoff.failed('alice');
    now += 61_000;
    expect(backoff.wait('alice')).toBe(0);
    backoff.failed('alice');
    expect(backoff.wait('alice')).toBe(0); // starts again with free attempts
  });
});

describe('robot token expiry', () => {
  it('reads durations and never', () => {
    expect(parseExpiry('30d')).toBe(30 * 86_400);
    expect(parseExpiry('12h')).toBe(43_200);
    expect(parseExpiry('90m')).toBe(5400);
    expect(parseExpiry('2w')).toBe(1_209_600);
    expect(parseExpiry('never')).toBeNull();
    for (const bad of ['', '0d', '-1d', '30x', '11000d', 'soon']) expect(() => parseExpiry(bad), bad).toThrow(/invalid expiry/);
  });
});
