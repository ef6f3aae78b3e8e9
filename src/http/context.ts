/** What every request carries through the app (set by the first middlewares), and the route types. */
import type { Router, RouterContext } from '@koa/router';
import type { Logger } from 'pino';
import type { Permissions } from '../auth/permissions.js';
import type { Origin } from './proxies.js';

export interface AppState {
  log: Logger;
  requestId: string;
  /** Who the caller is and what it may do (the auth middleware sets it before any route runs). */
  permissions: Permissions;
  /** How long a small body (read whole by readSmallBody) may take to arrive, ms. */
  bodyTimeoutMs: number;
  /** The scheme and host the client used (through trusted proxies: src/http/proxies.ts). */
  origin?: Origin;
}

export type HttpContext = RouterContext<AppState>;
export type HttpRouter = Router<AppState>;
