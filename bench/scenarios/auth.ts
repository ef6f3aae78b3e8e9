/**
 * What token auth costs on the hot path: manifest GET by tag on Berth without auth, against a
 * second Berth on the same storage with `auth.mode: token`, asked with a Bearer token (verified
 * once, then cached). Interleaved rounds, same load as the small-request scenario. The issue asks
 * for auth to cost at most 15% (auth off / auth on throughput <= 1.15).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { request } from '../http.js';
import { OCI_MANIFEST } from '../oci.js';
import { median, Results } from '../results.js';
import { startBerth, type Target } from '../targets.js';
import type { BenchContext } from './context.js';
import { measureLoad, type Operation, seedSmall } from './small.js';

const REPO = 'bench/small';
const USER = 'bench';
const PASSWORD = 'bench-password-not-a-secret';
/** The issue's bound: auth off / auth on throughput. */
export const AUTH_COST_LIMIT = 1.15;

async function tokenFor(target: Target): Promise<string> {
  const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const res = await request(`${target.url}/token?service=berth&scope=${encodeURIComponent(`repository:${REPO}:pull`)}`, { headers: { Authorization: `Basic ${basic}` } });
  if (res.status !== 200) throw new Error(`token request: HTTP ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  return (JSON.parse(res.body.toString('utf8')) as { token: string }).token;
}

export async function runAuth(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const open = ctx.targets.find((t) => t.name === 'berth');
  if (!open) return;
  await seedSmall(open);
  await mkdir(ctx.scratch, { recursive: true });
  const users = join(ctx.scratch, 'auth-users.htpasswd');
  await writeFile(users, `${USER}:${bcrypt.hashSync(PASSWORD, 10)}\n`, { mode: 0o600 });
  ctx.progress('auth: starting Berth with token auth on the same storage');
  const secured = await startBerth(ctx.scratch, {
    cli: ctx.options.berthCli ? resolve(ctx.options.berthCli) : undefined,
    name: 'berthAuth',
    folder: 'auth',
    dataDir: join(open.dir, 'data'),
    extraConfig: ['auth:', '  mode: token', `  usersFile: ${JSON.stringify(users)}`],
  });
  try {
    const token = await tokenFor(secured);
    const op = (headers: Record<string, string>): Operation => ({ name: 'manifest GET by tag', method: 'GET', path: `/v2/${REPO}/manifests/latest`, headers: { Accept: OCI_MANIFEST, ...headers } });
    const off = new Results();
    const on = new Results();
    const section = 'auth';
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const which of order) {
        ctx.progress(`auth: round ${round + 1}/${options.rounds}: manifest GET, auth ${which}`);
        if (which === 'off') await measureLoad(ctx, section, open, op({}), off);
        else await measureLoad(ctx, section, { ...secured, name: 'berth' }, op({ Authorization: `Bearer ${token}` }), on);
      }
    }
    const value = (r: Results, metric: string): number => median(r.metrics.find((m) => m.name === `manifest GET by tag: ${metric}`)?.samples.berth ?? [NaN]);
    const title = `Token auth: manifest GET by tag, ${options.concurrency} connections (Berth column)`;
    results.add(title, 'auth off: throughput', 'req/s', 'higher', 'berth', value(off, 'throughput'));
    results.add(title, 'token auth: throughput', 'req/s', 'higher', 'berth', value(on, 'throughput'));
    results.add(title, 'auth off: p99 latency', 'ms', 'lower', 'berth', value(off, 'p99 latency'));
    results.add(title, 'token auth: p99 latency', 'ms', 'lower', 'berth', value(on, 'p99 latency'));
    const cost = value(off, 'throughput') / value(on, 'throughput');
    results.add(title, 'cost of auth (auth off / token auth throughput)', 'x', 'lower', 'berth', cost);
    ctx.note(`Token auth costs ${((cost - 1) * 100).toFixed(1)}% of manifest GET throughput (${cost <= AUTH_COST_LIMIT ? 'within' : 'OVER'} the issue's ${((AUTH_COST_LIMIT - 1) * 100).toFixed(0)}%).`);
  } finally {
    await secured.stop();
  }
}
