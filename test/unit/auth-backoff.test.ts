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

describe('login backoff with attempts in flight', () => {
  const config = { freeAttempts: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfter: 60 };

  it('admits the free attempts at once; the rest wait for them and are judged by their outcome', async () => {
    const backoff = new LoginBackoff(config);
    const admissions = Array.from({ length: 6 }, () => backoff.begin('alice'));
    const settled: string[] = [];
    admissions.forEach((a, i) => void a.then((r) => settled.push(`${i}:${r.ok}`)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled.sort()).toEqual(['0:true', '1:true', '2:true']); // 3..5 wait
    for (const admission of await Promise.all(admissions.slice(0, 3))) if (admission.ok) admission.attempt.end(false);
    const rest = await Promise.all(admissions.slice(3));
    expect(rest.map((r) => r.ok)).toEqual([false, false, false]);
    expect(rest.every((r) => !r.ok && r.retryAfterMs > 0)).toBe(true);
  });

  it('lets right sign-ins in parallel through, a few at a time', async () => {
    const backoff = new LoginBackoff(config);
    const admissions = Array.from({ length: 7 }, () => backoff.begin('ci'));
    let admitted = 0;
    for (const admission of admissions) {
      const result = await admission;
      expect(result.ok).toBe(true);
      if (result.ok) result.attempt.end(true);
      admitted += 1;
    }
    expect(admitted).toBe(7);
    expect(backoff.wait('ci')).toBe(0);
  });

  it('does not count a cancelled attempt', async () => {
    const backoff = new LoginBackoff({ ...config, freeAttempts: 1 });
    const first = await backoff.begin('bob');
    if (first.ok) first.attempt.cancel();
    expect(backoff.wait('bob')).toBe(0);
    const second = await backoff.begin('bob');
    expect(second.ok).toBe(true);
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
