/**
 * The web console: a small single-page app (sources in web/, built by Vite into dist/console)
 * served at `/` on the registry's own origin, and `/api/session`, which tells the page who it is
 * talking as. Everything else the page shows comes from the JSON API the other modules serve
 * (/api/repositories, /api/builds, /api/events, /api/usage, /api/admin), with the caller's rights.
 *
 *   static.ts   index.html for every deep link (`/r/<name>`, `/r/<name>/t/<tag>`, `/builds/<id>`,
 *               ...) with a strict Content-Security-Policy; hashed assets cached for a year
 *   config.ts   `console.enabled`, `console.refresh` (the repositories-by-push index)
 *
 * How the page signs in (no session on the server): `POST /token` with the user's name and
 * password, `scope=berth:api:*` and `access_type=offline`, as `docker login` does; the answer is
 * an API token that stands for the user at /api (src/auth/token.ts), kept in the page's memory,
 * and a refresh token, kept in the tab's sessionStorage, that gets a new API token when the old
 * one expires. Signing out forgets both.
 */
import Router from '@koa/router';
import type { AuthConfig } from '../auth/config.js';
import { API_SCOPE } from '../auth/scope.js';
import type { Action } from '../auth/permissions.js';
import type { LinkedRepository } from '../builds/config.js';
import { type AppState, type HttpRouter, queryValue, respondJson } from '../http/index.js';
import { isValidName } from '../registry/names.js';
import type { ConsoleConfig } from './config.js';
import { loadConsoleFiles, serveAsset, servePage } from './static.js';

export { CONSOLE_SCHEMA, type ConsoleConfig } from './config.js';
export { CONTENT_SECURITY_POLICY } from './static.js';

export interface ConsoleDeps {
  config: ConsoleConfig;
  auth: AuthConfig;
  readOnly: boolean;
  /** GitHub repositories linked to builds (builds.repositories). */
  linked: readonly LinkedRepository[];
}

/** The page's own paths: each serves index.html, whose script reads the path. */
const PAGES = ['/', '/r/*rest', '/builds', '/builds/:id', '/activity', '/admin', '/signin'];

export function createConsoleRouter(deps: ConsoleDeps): HttpRouter {
  const router = new Router<AppState>();

  router.get('/api/session', async (ctx) => {
    const { permissions } = ctx.state;
    const principal = await permissions.principal(); // 401 for bad or expired credentials: the page refreshes
    const repository = queryValue(ctx, 'repository');
    const body: Record<string, unknown> = {
      auth: deps.auth.mode,
      user: principal?.user ?? null,
      admin: await permissions.admin(),
      readOnly: deps.readOnly,
      registry: ctx.state.origin?.host ?? ctx.host,
      tokenPath: '/token',
      service: deps.auth.service,
      apiScope: API_SCOPE,
      builds: deps.linked.length > 0,
    };
    if (repository !== undefined && isValidName(repository)) {
      const actions: Action[] = [];
      for (const action of ['pull', 'push', 'delete'] as const) if (await permissions.can(repository, action)) actions.push(action);
      body.actions = actions;
      const linked = actions.includes('pull') ? deps.linked.find((r) => r.image === repository) : undefined;
      if (linked) body.github = linked.github;
    }
    ctx.set('Cache-Control', 'no-store');
    respondJson(ctx, body);
  });

  if (!deps.config.enabled) return router;
  const files = loadConsoleFiles();
  for (const path of PAGES) router.get(path, (ctx) => servePage(ctx, files));
  router.get('/assets/:name', (ctx, next) => (serveAsset(ctx, files, ctx.params.name ?? '') ? undefined : next()));
  return router;
}
