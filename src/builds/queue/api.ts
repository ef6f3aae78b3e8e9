/**
 * `/api/builds`: list, show, follow the log, cancel, trigger. Rights as for images: a build is
 * visible to whoever may pull its repository; cancelling and triggering need push. Credentials
 * are checked before anything is looked up, and a build or linked repository the caller may not
 * see is answered exactly as one that does not exist (404): nothing tells which private ones exist.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { type HttpContext, type HttpRouter, queryValue, readSmallBody, respondJson } from '../../http/index.js';
import { RegistryError } from '../../registry/errors.js';
import type { BuildsConfig } from '../config.js';
import type { GitHubApi } from '../github/index.js';
import { BUILD_ID } from './paths.js';
import type { BuildQueue } from './queue.js';
import { type BuildRecord, isFinished, type RecordStore } from './records.js';
import { findLinked, parseTriggerRequest, planTrigger } from './trigger.js';

export interface BuildsApiDeps {
  config: BuildsConfig;
  store: RecordStore;
  queue: BuildQueue;
  github: (repository: string) => GitHubApi;
  registryHost: () => string;
  publicUrl: () => string;
}

const STATES = new Set(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
const FOLLOW_POLL_MS = 1000;

/**
 * A record as the API shows it. Build argument values stay out (a rule's buildArgs may hold
 * something its author would not show to everyone who may pull): only their names.
 */
export function publicRecord(record: BuildRecord, publicUrl: string): Record<string, unknown> {
  const { buildArgs, runner: _runner, trigger, ...rest } = record;
  // The caller's principal is for the build's rights; `user` already names who it was.
  const { principal: _principal, ...shownTrigger } = trigger as BuildRecord['trigger'] & { principal?: unknown };
  return { ...rest, trigger: shownTrigger, buildArgs: Object.keys(buildArgs).sort(), logUrl: `${publicUrl}/api/builds/${record.id}/logs` };
}

function notFound(id: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `no build ${id}`, { status: 404 });
}

/** The record of `:id` when the caller may pull its repository; 404 alike when missing or hidden. */
async function visibleRecord(ctx: HttpContext, store: RecordStore): Promise<BuildRecord> {
  await ctx.state.permissions.authenticate();
  const id = ctx.params.id ?? '';
  if (!BUILD_ID.test(id)) throw notFound(id);
  const record = await store.get(id);
  if (!record || !(await ctx.state.permissions.can(record.image, 'pull'))) throw notFound(id);
  return record;
}

/** Resolves after `ms`, or earlier when `event` fires on `emitter`. */
function nap(store: RecordStore, id: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      store.events.off(`log:${id}`, done).off(`record:${id}`, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    store.events.once(`log:${id}`, done).once(`record:${id}`, done);
  });
}

/** The log as it grows, until the build ends, the client leaves or the server closes. */
async function* followLog(ctx: HttpContext, store: RecordStore, id: string): AsyncGenerator<Buffer> {
  // The HTTP server stops listening first when it closes: a follower then ends, so that a
  // shutdown does not wait for builds to finish; and its connection closes once the answer is
  // out (an idle keep-alive connection would hold the shutdown until its grace time is over).
  const socket = ctx.req.socket as Socket & { server?: Server };
  let offset = 0;
  for (;;) {
    const record = await store.get(id);
    const chunk = await store.readLog(id, offset);
    if (chunk.length > 0) {
      offset += chunk.length;
      yield chunk;
    }
    if (socket.server?.listening === false) {
      ctx.res.once('finish', () => socket.end());
      return;
    }
    if (!record || isFinished(record.state)) return;
    await nap(store, id, FOLLOW_POLL_MS);
  }
}

export function mountBuildsApi(router: HttpRouter, deps: BuildsApiDeps): void {
  const { store, queue } = deps;

  router.get('/api/builds', async (ctx) => {
    await ctx.state.permissions.authenticate();
    const repository = queryValue(ctx, 'repository');
    const state = queryValue(ctx, 'state');
    if (state !== undefined && !STATES.has(state)) throw new RegistryError('UNSUPPORTED', `state must be one of ${[...STATES].join(', ')}`, { status: 400 });
    const n = Number(queryValue(ctx, 'n') ?? 50);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be 1 to 1000');
    const last = queryValue(ctx, 'last');
    const allowed = new Map<string, Promise<boolean>>();
    const canPull = (image: string): Promise<boolean> => {
      let known = allowed.get(image);
      if (!known) allowed.set(image, (known = ctx.state.permissions.can(image, 'pull')));
      return known;
    };
    const builds: BuildRecord[] = [];
    let more = false;
    for (const id of await store.ids()) {
      if (last !== undefined && id >= last) continue;
      const record = await store.get(id);
      if (!record) continue;
      if (repository !== undefined && record.github.toLowerCase() !== repository.toLowerCase() && record.image !== repository) continue;
      if (state !== undefined && record.state !== state) continue;
      if (!(await canPull(record.image))) continue;
      if (builds.length === n) {
        more = true;
        break;
      }
      builds.push(record);
    }
    const publicUrl = deps.publicUrl();
    respondJson(ctx, { builds: builds.map((b) => publicRecord(b, publicUrl)), ...(more ? { next: builds[builds.length - 1]!.id } : {}) });
  });

  router.get('/api/builds/:id', async (ctx) => {
    respondJson(ctx, publicRecord(await visibleRecord(ctx, store), deps.publicUrl()));
  });

  router.get('/api/builds/:id/logs', async (ctx) => {
    const record = await visibleRecord(ctx, store);
    const follow = !['0', 'false', 'no'].includes(queryValue(ctx, 'follow') ?? '');
    ctx.set('Content-Type', 'text/plain; charset=utf-8');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (!follow || isFinished(record.state)) {
      ctx.body = await store.readLog(record.id);
      ctx.set('Content-Type', 'text/plain; charset=utf-8');
      return;
    }
    ctx.set('X-Accel-Buffering', 'no'); // proxies: pass the lines on as they come
    // A build may print nothing for a while: the connection's idle timeout does not apply while
    // following (the follow ends with the build, which has its own timeout).
    ctx.req.socket.setTimeout(0);
    ctx.body = Readable.from(followLog(ctx, store, record.id), { objectMode: false });
    ctx.set('Content-Type', 'text/plain; charset=utf-8');
  });

  router.post('/api/builds/:id/cancel', async (ctx) => {
    const record = await visibleRecord(ctx, store);
    await ctx.state.permissions.require(record.image, ['push']);
    const after = await queue.cancel(record, ctx.state.permissions.subject);
    respondJson(ctx, { ...publicRecord(after, deps.publicUrl()), ...(isFinished(after.state) ? {} : { cancelRequested: true }) });
    ctx.status = isFinished(after.state) ? 200 : 202;
  });

  router.post('/api/builds', async (ctx) => {
    await ctx.state.permissions.authenticate();
    const body = await readSmallBody(ctx, 64 * 1024, () => new RegistryError('SIZE_INVALID', 'body larger than 64 KiB', { status: 413 }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('UNSUPPORTED', 'the body must be JSON', { status: 400 });
    }
    const request = parseTriggerRequest(parsed);
    const linked = findLinked(deps.config, request.repository);
    if (!linked || !(await ctx.state.permissions.can(linked.image, 'pull'))) {
      throw new RegistryError('NAME_UNKNOWN', `${request.repository} is not a linked repository (builds.repositories)`, { status: 404 });
    }
    await ctx.state.permissions.require(linked.image, ['push']);
    const by = { user: ctx.state.permissions.subject, principal: await ctx.state.permissions.principal() };
    const plans = await planTrigger(linked, request, deps.github(linked.github), deps.registryHost(), by);
    const records = await queue.enqueue(plans);
    const publicUrl = deps.publicUrl();
    respondJson(ctx, { builds: records.map((r) => publicRecord(r, publicUrl)) });
    ctx.status = 202;
  });
}
