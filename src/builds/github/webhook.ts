/**
 * `POST /webhooks/github`: outside registry auth, trusted only through its signature (the route
 * exists only while some repository is linked).
 *
 * Order matters, and nothing is read that cannot be trusted: a delivery without a well-formed
 * `X-Hub-Signature-256` is refused (401) before its body is read; one without a Content-Length,
 * or declaring more than 25 MiB (GitHub's own cap), too. The bodies held at once are bounded in
 * number and in bytes (429 beyond), and each must arrive within the body deadline. The HMACs
 * against every configured secret are computed while the body streams; then the payload's
 * repository must be one linked with a secret that matched. Only then is the delivery id claimed
 * (so unsigned requests cannot fill storage) and builds queued: 202 at once with their ids, the
 * builds run later. A redelivery (same `X-GitHub-Delivery`) finds its claim and builds nothing.
 */
import type { Logger } from 'pino';
import { contentLength, type HttpContext, readSmallBody, respondEmpty, respondJson } from '../../http/index.js';
import { RegistryError } from '../../registry/errors.js';
import type { BuildsConfig, LinkedRepository } from '../config.js';
import { DELIVERY_ID, type BuildPlan, type BuildRecord, type RecordStore } from '../queue/index.js';
import { planBuilds } from './plans.js';
import { parseRef } from './rules.js';
import { parseSignatureHeader, SignatureCheck } from './signature.js';

export const MAX_PAYLOAD = 25 * 1024 * 1024;
/** Delivery bodies held at once, and their bytes (declared lengths) together. */
const MAX_DELIVERIES_IN_FLIGHT = 8;
const MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;

/** Counts the bodies being read and their declared bytes; `reserve` is undefined past either bound. */
class DeliveryBudget {
  private count = 0;
  private bytes = 0;

  reserve(bytes: number): (() => void) | undefined {
    if (this.count >= MAX_DELIVERIES_IN_FLIGHT || this.bytes + bytes > MAX_BYTES_IN_FLIGHT) return undefined;
    this.count += 1;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count -= 1;
      this.bytes -= bytes;
    };
  }
}

export interface WebhookDeps {
  config: BuildsConfig;
  store: RecordStore;
  enqueue: (plans: BuildPlan[]) => Promise<BuildRecord[]>;
  registryHost: () => string;
  /** Where a build's record is shown, for the answer. */
  buildUrl: (id: string) => string;
  log: Logger;
}

interface PushPayload {
  ref?: unknown;
  after?: unknown;
  deleted?: unknown;
  head_commit?: { message?: unknown } | null;
  repository?: { full_name?: unknown; default_branch?: unknown };
}

function unauthorized(message: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', message);
}

function badRequest(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

/** GitHub sends JSON, or `payload=<JSON>` form-encoded when the hook is set up that way. */
function parsePayload(ctx: HttpContext, body: Buffer): PushPayload {
  try {
    const text = body.toString('utf8');
    const json = ctx.is('application/x-www-form-urlencoded') ? (new URLSearchParams(text).get('payload') ?? '') : text;
    const value = JSON.parse(json) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as PushPayload;
  } catch {
    throw badRequest('the payload is not a JSON object');
  }
}

export function webhookHandler(deps: WebhookDeps): (ctx: HttpContext) => Promise<void> {
  const budget = new DeliveryBudget();
  return async (ctx) => {
    const given = parseSignatureHeader(ctx.get('X-Hub-Signature-256') || undefined);
    if (!given) throw unauthorized('missing or malformed X-Hub-Signature-256');
    const tooLarge = (): RegistryError => new RegistryError('SIZE_INVALID', `webhook payload larger than ${MAX_PAYLOAD} bytes`, { status: 413 });
    const declared = contentLength(ctx);
    if (declared === undefined) throw new RegistryError('UNSUPPORTED', 'a webhook delivery needs a Content-Length', { status: 411 });
    if (declared > MAX_PAYLOAD) throw tooLarge();
    const release = budget.reserve(declared);
    if (!release) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many webhook deliveries in progress: retry later', { headers: { 'Retry-After': '10' } });
    }
    try {
      await handleDelivery(ctx, deps, given, tooLarge);
    } finally {
      release();
    }
  };
}

async function handleDelivery(ctx: HttpContext, deps: WebhookDeps, given: Buffer, tooLarge: () => RegistryError): Promise<void> {
  const { config } = deps;
  const check = new SignatureCheck(given, config.repositories.map((r) => r.secret));
  const body = await readSmallBody(ctx, MAX_PAYLOAD, tooLarge, { onChunk: (chunk) => check.update(chunk) });
  const matched = check.matching();
  if (matched.size === 0) throw unauthorized('invalid X-Hub-Signature-256');

  const payload = parsePayload(ctx, body);
  const fullName = typeof payload.repository?.full_name === 'string' ? payload.repository.full_name.toLowerCase() : undefined;
  const linked: LinkedRepository | undefined = config.repositories.find((r) => r.github.toLowerCase() === fullName && matched.has(r.secret));
  if (!linked) throw unauthorized('the signature does not belong to the repository in the payload');

  const event = ctx.get('X-GitHub-Event');
  const log = ctx.state.log.child({ github: linked.github, event, delivery: ctx.get('X-GitHub-Delivery') || undefined });
  if (event === 'ping') {
    respondJson(ctx, { ok: true, repository: linked.github, image: linked.image });
    return;
  }
  if (event !== 'push') {
    respondEmpty(ctx, 204);
    return;
  }

  const delivery = ctx.get('X-GitHub-Delivery');
  if (!DELIVERY_ID.test(delivery)) throw badRequest('missing or invalid X-GitHub-Delivery');
  if (!(await deps.store.claimDelivery(delivery, { receivedAt: new Date().toISOString(), event }))) {
    const seen = await deps.store.getDelivery(delivery);
    log.info('delivery seen before: nothing queued');
    respondJson(ctx, { duplicate: true, builds: seen?.builds ?? [], message: 'this delivery was received before: nothing new queued' });
    return;
  }

  const answer = async (builds: BuildRecord[], message?: string): Promise<void> => {
    await deps.store.putDelivery(delivery, { receivedAt: new Date().toISOString(), event, builds: builds.map((b) => b.id) });
    respondJson(ctx, {
      builds: builds.map((b) => ({ id: b.id, rule: b.rule, image: b.image, tags: b.tags, url: deps.buildUrl(b.id) })),
      ...(message ? { message } : {}),
    });
    ctx.status = 202;
  };

  const ref = typeof payload.ref === 'string' ? parseRef(payload.ref) : undefined;
  if (payload.deleted === true) return answer([], 'the ref was deleted: nothing to build');
  if (!ref) return answer([], 'not a branch or tag push: nothing to build');
  const sha = typeof payload.after === 'string' ? payload.after : '';
  if (!/^[0-9a-f]{40}$/.test(sha)) throw badRequest('the push has no valid `after` commit');
  const defaultBranch = typeof payload.repository?.default_branch === 'string' ? payload.repository.default_branch : 'main';
  const message = typeof payload.head_commit?.message === 'string' ? payload.head_commit.message : '';
  const plans = planBuilds(linked, { ref, sha, commitMessage: message, defaultBranch, trigger: { kind: 'webhook', delivery } }, deps.registryHost());
  if (plans.length === 0) return answer([], `no build rule matches ${ref.type} ${ref.name}`);
  let builds: BuildRecord[];
  try {
    builds = await deps.enqueue(plans);
  } catch (err) {
    // Not queued: forget the delivery so that GitHub's redelivery can try again.
    await deps.store.deleteDelivery(delivery).catch(() => {});
    throw err;
  }
  log.info({ builds: builds.map((b) => b.id), ref: `${ref.type} ${ref.name}`, sha }, 'builds queued');
  return answer(builds);
}
