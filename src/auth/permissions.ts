/**
 * What a caller may do, as the HTTP handlers ask it. The auth middleware puts one of these on
 * `ctx.state.permissions` for every request; handlers ask before they act.
 */
import { RegistryError } from '../registry/errors.js';
import type { CanRead } from '../registry/registry.js';

export type Action = 'pull' | 'push' | 'delete';

/** A signed-in caller as work done later on its behalf remembers it (a build triggered by hand). */
export interface PrincipalRef {
  user: string;
  /** The robot token it signed in with, whose scope also bounds it. */
  robot?: string;
}

export interface Permissions {
  /**
   * Checks the credentials the request carries, if any (throws UNAUTHORIZED for bad ones;
   * anonymous is fine): for handlers that must know who asks before they look anything up.
   */
  authenticate(): Promise<void>;
  /** Throws UNAUTHORIZED (with a challenge) or DENIED unless every action is allowed. */
  require(repository: string, actions: Action[]): Promise<void>;
  /** Whether one action is allowed, without throwing. */
  can(repository: string, action: Action): Promise<boolean>;
  /**
   * Throws UNAUTHORIZED (with a challenge) unless the request carried valid credentials (an
   * anonymous token counts): what `GET /v2/` asks, so that clients learn where to log in.
   */
  requireAuthenticated(): Promise<void>;
  /** Throws unless the caller may list the catalog at all. */
  requireCatalog(): Promise<void>;
  /** A predicate for the repositories the caller may read; undefined when it may read all. */
  readable(): CanRead | undefined;
  /**
   * The signed-in user (and robot token) behind the request; undefined for anonymous callers,
   * tokens from another issuer, and without auth.
   */
  principal(): Promise<PrincipalRef | undefined>;
  /**
   * Whether the caller has admin rights (`auth.admins`, signed in with its password or an API
   * token; never a robot token or a registry access token). Everybody without auth on loopback
   * (or with `auth.mode: none` chosen), nobody in the pulls-only mode.
   */
  admin(): Promise<boolean>;
  /** Who the caller is, for logs: a user name, `anonymous`, or undefined without auth. */
  readonly subject?: string;
}

/**
 * Without auth on a non-loopback address when nobody chose `auth.mode: none` (the container's
 * `docker run -p 5000:5000` case): everybody may pull, nobody may write. Open to the network by
 * accident must not mean open to pushes and deletes by anyone.
 */
export const pullsOnly: Permissions = {
  async authenticate() {},
  async require(repository, actions) {
    const refused = actions.filter((action) => action !== 'pull');
    if (refused.length === 0) return;
    throw new RegistryError('DENIED', `${refused.join(' and ')} refused: this registry has no authentication and listens on a non-loopback address`, {
      detail: {
        repository,
        actions: refused,
        fix: 'switch on token auth (auth.mode: token, see README "Authentication"), or set auth.mode: none (BERTH_AUTH_MODE=none) to let anyone who can reach it push and delete',
      },
    });
  },
  async requireAuthenticated() {},
  async can(_repository, action) {
    return action === 'pull';
  },
  async requireCatalog() {},
  readable() {
    return undefined;
  },
  async principal() {
    return undefined;
  },
  async admin() {
    return false;
  },
};

/** Without auth (`auth.mode: none`) everybody may do everything. */
export const everythingAllowed: Permissions = {
  async authenticate() {},
  async require() {},
  async requireAuthenticated() {},
  async can() {
    return true;
  },
  async requireCatalog() {},
  readable() {
    return undefined;
  },
  async principal() {
    return undefined;
  },
  async admin() {
    return true;
  },
};
