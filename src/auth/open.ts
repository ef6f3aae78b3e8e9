/**
 * `auth.mode: none`: no token server, and everybody may do everything (on loopback, or when
 * `auth.mode: none` was chosen on purpose) or pull only (no mode chosen, a listen address off
 * loopback). Kept apart from index.ts so that a registry without auth never loads the token,
 * login and key machinery (jose, bcrypt): the app imports index.ts only when auth is on.
 */
import Router from '@koa/router';
import type { AppState } from '../http/index.js';
import { isLoopbackHost, parseListen } from '../config.js';
import type { AuthConfig } from './config.js';
import type { AuthModule } from './index.js';
import { everythingAllowed, pullsOnly } from './permissions.js';

export function openAccess(config: Pick<AuthConfig, 'modeGiven'>, listen: string): AuthModule {
  const permissions = config.modeGiven || isLoopbackHost(parseListen(listen).host) ? everythingAllowed : pullsOnly;
  return {
    middleware: async (ctx, next) => {
      ctx.state.permissions = permissions;
      await next();
    },
    router: new Router<AppState>(),
    issueInternalToken: async () => undefined,
    mayPull: async () => true,
  };
}
