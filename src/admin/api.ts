/**
 * `/api/admin/...`: what only admins may do over HTTP (`auth.admins`; everybody without auth on
 * loopback, nobody in the pulls-only mode: src/auth/permissions.ts):
 * - `GET /api/admin/gc`: a gc dry run (gc-preview.ts);
 * - `GET /api/admin/tokens`, `POST /api/admin/tokens`, `DELETE /api/admin/tokens/<id>`: robot
 *   tokens, as `berth token list|create|revoke` on the storage; the secret is in the answer to the
 *   POST and nowhere else (never logged, never stored: only its hash is).
 * Storage per repository is `/api/usage` (all repositories for admins) and every event is
 * `/api/events` (all of them for admins). Writes go through the read-only gate like any other.
 */
import Router from '@koa/router';
import { parseExpiry } from '../auth/expiry.js';
import type { RobotAdmin } from '../auth/index.js';
import { formatRobotScope, isExpired, parseRobotScope, type RobotRecord } from '../auth/robots.js';
import { type AppState, type HttpContext, type HttpRouter, readSmallBody, respondJson } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import type { GcPreviewer } from './gc-preview.js';

export interface AdminApiDeps {
  gc: GcPreviewer;
  /** Undefined when auth is off: there are no robot tokens then. */
  robots?: RobotAdmin;
}

const MAX_BODY = 16 * 1024;
const MAX_SCOPES = 32;
const MAX_DESCRIPTION = 200;
const MAX_LISTED = 1000;
const TOKEN_ID = /^[a-z0-9]{16}$/;
const USER_NAME = /^[A-Za-z0-9._@-]{1,128}$/;
/** Printable text without control characters (it is shown in tables and logs). */
const DESCRIPTION = /^[^\p{Cc}]*$/u;

function badRequest(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

/** Anonymous callers are asked to sign in (401); signed-in callers who are not admins are refused (403). */
export async function requireAdmin(ctx: HttpContext): Promise<void> {
  await ctx.state.permissions.requireAuthenticated();
  if (!(await ctx.state.permissions.admin())) {
    throw new RegistryError('DENIED', 'admin rights needed: list the user in auth.admins (with auth off, only a registry on loopback or with auth.mode: none chosen has admins)', { status: 403 });
  }
}

/** A token as the API shows it: never its hash, scopes as written. */
function shown(record: RobotRecord): Record<string, unknown> {
  const { hash: _hash, scopes, ...rest } = record;
  return { ...rest, scopes: scopes.map(formatRobotScope), state: isExpired(record) ? 'expired' : 'active' };
}

function robotsOf(deps: AdminApiDeps): RobotAdmin {
  if (!deps.robots) throw new RegistryError('UNSUPPORTED', 'robot tokens need token auth (auth.mode: token)', { status: 404 });
  return deps.robots;
}

interface CreateRequest {
  user: string;
  scopes: string[];
  expires?: string;
  description?: string;
}

function parseCreate(body: Buffer): CreateRequest {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the body must be JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the body must be a JSON object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!['user', 'scopes', 'expires', 'description'].includes(key)) throw badRequest(`unknown field ${key}`);
  if (typeof v.user !== 'string' || !USER_NAME.test(v.user)) throw badRequest('user: a user name');
  if (!Array.isArray(v.scopes) || v.scopes.length === 0 || v.scopes.length > MAX_SCOPES || !v.scopes.every((s) => typeof s === 'string')) {
    throw badRequest(`scopes: a list of 1 to ${MAX_SCOPES} scopes like repository:team/*:pull,push`);
  }
  if (v.expires !== undefined && (typeof v.expires !== 'string' || v.expires.length > 20)) throw badRequest('expires: a duration like 30d, or never');
  if (v.description !== undefined && (typeof v.description !== 'string' || v.description.length > MAX_DESCRIPTION || !DESCRIPTION.test(v.description))) {
    throw badRequest(`description: at most ${MAX_DESCRIPTION} characters, no control characters`);
  }
  return v as unknown as CreateRequest;
}

export function createAdminRouter(deps: AdminApiDeps): HttpRouter {
  const router = new Router<AppState>();

  router.get('/api/admin/gc', async (ctx) => {
    await requireAdmin(ctx);
    ctx.set('Cache-Control', 'no-store');
    respondJson(ctx, await deps.gc.run());
  });

  router.get('/api/admin/tokens', async (ctx) => {
    await requireAdmin(ctx);
    const records = await robotsOf(deps).store.list();
    ctx.set('Cache-Control', 'no-store');
    respondJson(ctx, { tokens: records.slice(0, MAX_LISTED).map(shown), ...(records.length > MAX_LISTED ? { more: records.length - MAX_LISTED } : {}) });
  });

  router.post('/api/admin/tokens', async (ctx) => {
    await requireAdmin(ctx);
    const robots = robotsOf(deps);
    const request = parseCreate(await readSmallBody(ctx, MAX_BODY, () => new RegistryError('SIZE_INVALID', `body larger than ${MAX_BODY} bytes`, { status: 413 })));
    let scopes;
    let expiresIn: number | null;
    try {
      scopes = request.scopes.map(parseRobotScope);
      expiresIn = parseExpiry(request.expires ?? robots.defaultExpiry);
    } catch (err) {
      throw badRequest((err as Error).message); // both parsers only throw for bad input
    }
    if (!(await robots.userExists(request.user))) throw badRequest(`no user ${request.user} (berth user add)`);
    const { record, secret } = await robots.store.create({ user: request.user, scopes, expiresIn, ...(request.description ? { description: request.description } : {}) });
    ctx.state.log.info({ token: record.id, user: record.user, scopes: record.scopes.map(formatRobotScope), expires: record.expires, by: ctx.state.permissions.subject }, 'robot token created');
    ctx.set('Cache-Control', 'no-store');
    respondJson(ctx, { ...shown(record), secret });
    ctx.status = 201;
  });

  router.delete('/api/admin/tokens/:id', async (ctx) => {
    await requireAdmin(ctx);
    const id = ctx.params.id ?? '';
    if (!TOKEN_ID.test(id) || !(await robotsOf(deps).store.revoke(id))) throw new RegistryError('NAME_UNKNOWN', `no token ${id.slice(0, 40)}`, { status: 404 });
    ctx.state.log.info({ token: id, by: ctx.state.permissions.subject }, 'robot token revoked');
    ctx.status = 204;
  });
  return router;
}
