/**
 * Attacks on token auth from the audit of issue 15, each against a real server: scopes crafted to
 * make a regular expression backtrack, parallel password guesses racing the backoff, and bcrypt
 * work flooding the event loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestBlock } from '../helpers/event-loop.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';

describe('token auth under attack', { timeout: 120_000 }, () => {
  let s: AuthServer;

  beforeAll(async () => {
    s = await startAuthServer();
  });
  afterAll(async () => s?.cleanup());

  it('answers a scope built to backtrack with 400 at once, and /v2/ meanwhile', async () => {
    const names = [
      `${'a'.repeat(28)}-`, // the audit's request: 20 s of one thread before the fix
      `${'a'.repeat(200)}-`,
      `x/${'a-'.repeat(100)}_`,
      `${'a'.repeat(5000)}-`,
      `host.example.com:5000/${'a'.repeat(60)}-`,
    ];
    const { result, maxBlockMs } = await longestBlock(() =>
      Promise.all([
        ...names.map((name) => s.client.get(`/token?service=berth-test&scope=${encodeURIComponent(`repository:${name}:pull`)}`)),
        ...names.map((name) =>
          s.client.request('POST', '/token', {
            body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'x', scope: `repository:${name}:pull` }).toString(),
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          }),
        ),
        s.client.get('/v2/'),
      ]),
    );
    const replies = result.slice(0, -1);
    for (const reply of replies) {
      expect(reply.status).toBe(400);
      expect(reply.json.errors[0].code).toBe('UNSUPPORTED');
    }
    expect(result.at(-1)!.status).toBe(401); // /v2/ answered (its challenge)
    // Generous: the attack blocked for 20 s (28 characters) up to forever (more).
    expect(maxBlockMs).toBeLessThan(2000);
  });
});
