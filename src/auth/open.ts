/**
 * `auth.mode: none`: everybody may do everything, and there is no token server. Kept apart from
 * index.ts so that a registry without auth never loads the token, login and key machinery (jose,
 * bcrypt): the app imports index.ts only when auth is on.
 */
import Router from '@koa/router';
import type { AppState } from '../http/index.js';
import type { AuthModule } from './index.js';
import { everythingAllowed } from './permissions.js';

export function openAccess(): AuthModule {
  return {
    middleware: async (ctx, next) => {
      ctx.state.permissions = everythingAllowed;
      await next();
    },
    router: new Router<AppState>(),
    issueInternalToken: async () => undefined,
  };
}
