/**
 * The cost of auth on the hot path: an authenticated manifest GET (a cached, verified token)
 * against an anonymous one (no credentials, a public repository), same manifest, same
 * keep-alive connection pool, interleaved in small batches so load elsewhere hits both alike.
 * Prints the ratio; the issue asks for well under 2x.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, bearer, getToken, pushImage, startAuthServer } from '../helpers/auth-server.js';

const ROUNDS = Number(process.env.AUTH_PERF_ROUNDS ?? 20);
const BATCH = 50;

describe('auth cost', { timeout: 120_000 }, () => {
  let s: AuthServer;
  beforeAll(async () => {
    s = await startAuthServer((c) => {
      c.log.level = 'warn';
    });
    const alice = await getToken(s.client, 'alice', ['repository:public/perf:pull,push']);
    await pushImage(s.client, 'public/perf', 'v1', alice);
  });
  afterAll(async () => s?.cleanup());

  it('an authenticated manifest GET costs well under 2x an anonymous one', async () => {
    const url = `${s.server.url}/v2/public/perf/manifests/v1`;
    const headers = {
      anonymous: {} as Record<string, string>,
      anonymousToken: bearer(await getToken(s.client, undefined, ['repository:public/perf:pull'])),
      user: bearer(await getToken(s.client, 'alice', ['repository:public/perf:pull'])),
    };
    const batch = async (h: Record<string, string>): Promise<number> => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) {
        const res = await fetch(url, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json', ...h } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET manifest: ${res.status}`);
      }
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    for (const h of Object.values(headers)) await batch(h); // warm up (JIT, connections, token cache)
    const totals = { anonymous: 0, anonymousToken: 0, user: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of Object.keys(totals) as (keyof typeof totals)[]) totals[mode] += await batch(headers[mode]);
    }
    const n = ROUNDS * BATCH;
    const per = (mode: keyof typeof totals) => (totals[mode] / n).toFixed(3);
    const ratio = totals.user / totals.anonymous;
    console.log(
      `manifest GET, ${n} each: anonymous ${per('anonymous')} ms, anonymous token ${per('anonymousToken')} ms, ` +
        `user token ${per('user')} ms; authenticated/anonymous = ${ratio.toFixed(2)}x`,
    );
    expect(ratio).toBeLessThan(2);
  });
});
