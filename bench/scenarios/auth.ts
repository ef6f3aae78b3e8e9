/**
 * What token auth costs on the hot path: manifest GET by tag on Berth without auth, against a
 * second Berth on the same storage with `auth.mode: token`, asked with a Bearer token (verified
 * once, then cached). The same load as the small-request scenario, in alternating one-second
 * slices. Reported as the servers' CPU time per request (from /proc: the least sensitive to
 * other work on the machine) and as throughput; the issue asks for at most 15% more.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { request } from '../http.js';
import { runLoad } from '../load.js';
import { OCI_MANIFEST } from '../oci.js';
import { cpuSeconds } from '../proc.js';
import { percentile } from '../results.js';
import { startBerth, type Target } from '../targets.js';
import type { BenchContext } from './context.js';
import { seedSmall } from './small.js';

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
    const slices = Math.max(2, Math.round(options.rounds * options.seconds));
    const sides = {
      off: { target: open, headers: {} as Record<string, string>, completed: 0, elapsed: 0, cpu: 0, latencies: [] as number[] },
      on: { target: secured, headers: { Authorization: `Bearer ${token}` }, completed: 0, elapsed: 0, cpu: 0, latencies: [] as number[] },
    };
    // One-second slices in the order off, on, on, off, off, on, ...: load from elsewhere on the
    // machine drifts slowly, and this pattern spreads it evenly over both sides.
    for (let slice = 0; slice < 2 * slices; slice++) {
      const side = sides[Math.floor((slice + 1) / 2) % 2 === 0 ? 'off' : 'on'];
      if (slice % 4 === 0) ctx.progress(`auth: slice ${slice + 1}/${2 * slices}`);
      const cpuBefore = cpuSeconds(side.target.pid);
      const result = await runLoad({
        url: side.target.url,
        method: 'GET',
        path: `/v2/${REPO}/manifests/latest`,
        headers: { Accept: OCI_MANIFEST, ...side.headers },
        connections: options.concurrency,
        seconds: 1,
        warmupSeconds: 0.2,
      });
      side.cpu += cpuSeconds(side.target.pid) - cpuBefore;
      if (result.errors > 0) ctx.note(`auth: ${result.errors} failed requests (first: ${result.firstError})`);
      side.completed += result.completed;
      side.elapsed += result.elapsed;
      side.latencies.push(...result.latenciesMs);
    }
    const title = `Token auth: manifest GET by tag, ${options.concurrency} connections, ${slices} s each in 1 s slices (Berth column)`;
    const cpuPerRequest = (side: typeof sides.off): number => (side.cpu / side.completed) * 1e6;
    for (const [name, side] of [['auth off', sides.off], ['token auth', sides.on]] as const) {
      results.add(title, `${name}: throughput`, 'req/s', 'higher', 'berth', side.completed / side.elapsed);
      results.add(title, `${name}: p99 latency`, 'ms', 'lower', 'berth', percentile(Float64Array.from(side.latencies).sort(), 99));
      results.add(title, `${name}: server CPU per request`, 'us', 'lower', 'berth', cpuPerRequest(side));
    }
    const cost = cpuPerRequest(sides.on) / cpuPerRequest(sides.off);
    const throughput = sides.off.completed / sides.off.elapsed / (sides.on.completed / sides.on.elapsed);
    results.add(title, 'cost of auth: server CPU per request, token / off', 'x', 'lower', 'berth', cost);
    results.add(title, 'cost of auth: throughput, off / token', 'x', 'lower', 'berth', throughput);
    const verdict = (x: number): string => `${((x - 1) * 100).toFixed(1)}% (${x <= AUTH_COST_LIMIT ? 'within' : 'OVER'} the issue's ${((AUTH_COST_LIMIT - 1) * 100).toFixed(0)}%)`;
    ctx.note(`Token auth costs ${verdict(cost)} more server CPU per manifest GET, and ${verdict(throughput)} of throughput.`);
  } finally {
    await secured.stop();
  }
}
