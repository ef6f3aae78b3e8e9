/**
 * Auth as the app sees it: a middleware that puts the caller's Permissions on every request,
 * and the routes of Berth's own token server (`/token`, `/.well-known/jwks.json`).
 */
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../api/http.js';
import type { AuthConfig } from './config.js';
import { type Action, everythingAllowed } from './permissions.js';

export interface AccessGrant {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export interface AuthModule {
  /** Sets `ctx.state.permissions` for every request (paths outside /v2 included). */
  middleware: Middleware<AppState>;
  /** Routes outside /v2: the token endpoint and the JWKS. */
  router: Router<AppState>;
  /**
   * A short-lived token for Berth's own clients (the build pusher): `subject` may do `actions`
   * on `repository`. Undefined when auth is off (no token needed).
   */
  issueInternalToken(subject: string, repository: string, actions: Action[], ttlSeconds: number): Promise<string | undefined>;
}

export interface AuthDeps {
  driver: StorageDriver;
  log: Logger;
}

export async function createAuth(config: AuthConfig, _deps: AuthDeps): Promise<AuthModule> {
  if (config.mode !== 'none') throw new Error(`auth.mode ${config.mode} is not available yet`);
  return {
    middleware: async (ctx, next) => {
      ctx.state.permissions = everythingAllowed;
      await next();
    },
    router: new Router<AppState>(),
    issueInternalToken: async () => undefined,
  };
}
