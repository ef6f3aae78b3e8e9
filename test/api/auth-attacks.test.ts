/**
 * Attacks on token auth from the audit of issue 15, each against a real server: scopes crafted to
 * make a regular expression backtrack, parallel password guesses racing the backoff, and bcrypt
 * work flooding the event loop.
 */
import { appendFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestBlock } from '../helpers/event-loop.js';
import { type AuthServer, basic, getToken, pushImage, startAuthServer, tokenReply } from '../helpers/auth-server.js';

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

describe('password guessing in parallel', { timeout: 120_000 }, () => {
  let s: AuthServer;
  const right = 'erin-password-right';

  beforeAll(async () => {
    s = await startAuthServer((c) => {
      c.auth.loginBackoff = { freeAttempts: 5, baseDelayMs: 500, maxDelayMs: 500, forgetAfter: 60 };
      // Room for all 60 at once: this test is about the backoff, not about the per-address bound.
      c.auth.passwordChecks = { threads: 1, maxPending: 200, maxPendingPerClient: 200 };
    });
    // A real cost (10): each check takes long enough for the guesses to overlap.
    await appendFile(s.usersFile, `erin:${bcrypt.hashSync(right, 10)}\n`);
  });
  afterAll(async () => s?.cleanup());

  it('counts guesses in flight: 59 wrong ones and then the right one, all at once, do not sign in', async () => {
    let received = 0;
    const onRequest = (req: IncomingMessage): void => {
      if (req.url?.startsWith('/token')) received += 1;
    };
    s.server.server.on('request', onRequest);
    try {
      const wrong = Array.from({ length: 59 }, (_, i) => tokenReply(s.client, 'erin', [], `wrong-guess-${i}`));
      // The right one goes last: once the server holds all 59 wrong ones, none of them answered yet.
      while (received < 59) await new Promise((resolve) => setImmediate(resolve));
      const last = tokenReply(s.client, 'erin', [], right);
      const replies = await Promise.all([...wrong, last]);
      const statuses = replies.map((r) => r.status);
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.filter((status) => status === 200)).toEqual([]);
      // Only the free attempts cost a password check; the rest were refused without one.
      const checked = s.server.logs.filter((l) => l.msg === 'sign-in failed' && l.user === 'erin').length;
      expect(checked).toBe(5);
      expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    } finally {
      s.server.server.off('request', onRequest);
    }
    // The backoff is a delay, not a lock-out: once it is over, the right password works.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await tokenReply(s.client, 'erin', [], right)).status).toBe(200);
  });
});

describe('password checks off the event loop', { timeout: 120_000 }, () => {
  let s: AuthServer;
  let digest: string;

  beforeAll(async () => {
    s = await startAuthServer((c) => {
      c.auth.passwordChecks = { threads: 2, maxPending: 200, maxPendingPerClient: 200 };
    });
    const token = await getToken(s.client, 'alice', ['repository:public/tool:pull,push']);
    digest = await pushImage(s.client, 'public/tool', 'v1', token);
  });
  afterAll(async () => s?.cleanup());

  it('serves anonymous pulls while 50 bad Basic logins are in flight', async () => {
    let finished = 0;
    // Unknown names, so no backoff applies: each costs a full bcrypt check (the dummy hash, cost 10).
    const logins = Array.from({ length: 50 }, (_, i) =>
      s.client.get('/v2/team-a/app/tags/list', { Authorization: basic(`nobody-${i}-${Math.random()}`, 'wrong password') }).then((reply) => {
        finished += 1;
        return reply;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const pulls: number[] = [];
    for (let i = 0; i < 5; i++) {
      const manifest = await s.client.get(`/v2/public/tool/manifests/${digest}`, { Accept: 'application/vnd.oci.image.manifest.v1+json' });
      expect(manifest.status).toBe(200);
      const layer = manifest.json.layers[0].digest as string;
      expect((await s.client.get(`/v2/public/tool/blobs/${layer}`)).status).toBe(200);
      pulls.push(finished);
    }
    // Every pull was served while logins were still waiting for their checks.
    expect(pulls.at(-1)).toBeLessThan(50);
    const replies = await Promise.all(logins);
    for (const reply of replies) expect(reply.status).toBe(401);
  });

  it('bounds the checks one address may have in flight: 429 with Retry-After beyond', async () => {
    const bounded = await startAuthServer((c) => {
      c.auth.passwordChecks = { threads: 1, maxPending: 200, maxPendingPerClient: 4 };
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) => bounded.client.get('/v2/team-a/app/tags/list', { Authorization: basic(`nobody-${i}`, 'wrong password') })),
      );
      const busy = replies.filter((r) => r.status === 429);
      expect(busy.length).toBeGreaterThan(0);
      for (const reply of busy) {
        expect(reply.json.errors[0].code).toBe('TOOMANYREQUESTS');
        expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      expect(replies.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(4);
    } finally {
      await bounded.cleanup();
    }
  });
});
