/**
 * Who the caller is, per request, and what it may do: the Permissions every handler asks.
 *
 * Credentials are read lazily, on the first question a handler asks, so paths that never ask
 * (/token, the JWKS, webhooks) never fail on a header meant for someone else.
 * - No credentials: what anonymous callers may do, straight from the rules (no token needed for a
 *   public repository); anything more gets 401 and a challenge naming the scope.
 * - `Bearer`: a verified token (cached); its `access` list is what it may do. When it falls short,
 *   401 `insufficient_scope` if asking again could help, 403 DENIED if the signed-in subject may
 *   not do it at all.
 * - `Bearer` with an API token (scope.ts `API_SCOPE`, what the console signs in for), on `/api/`
 *   paths only: the user it names, with that user's rights by the rules, exactly as with Basic;
 *   whether the user still stands with the same password (or robot token) is asked on every
 *   request, so a password change or removal signs the console out at once.
 * - `Basic` (curl, scripts; Docker clients use tokens): checked like a /token login, with the
 *   same backoff, and cached briefly by a hash of the header so bcrypt does not run per request;
 *   a cached hit still asks whether the user (and robot token) stands, so removing a user or
 *   revoking a token counts at once.
 */
import { createHash } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import type { AppState } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import { LruCache } from '../util/index.js';
import type { CanRead } from '../registry/registry.js';
import type { AccessPolicy } from './access.js';
import { CATALOG_SCOPE, type Challenger, repositoryScope } from './challenge.js';
import { parseAuthorization } from './credentials.js';
import { catalogAllowed, repositoryActions, type UserPrincipal } from './grants.js';
import { type Authenticator, describeRefusal, type LoginRefusal } from './login.js';
import type { Action, Permissions, PrincipalRef } from './permissions.js';
import type { RobotStore } from './robots.js';
import { TokenError, type TokenService, tokenAllows, type VerifiedToken } from './token.js';

export interface AuthCore {
  policy: AccessPolicy;
  tokens: TokenService;
  authenticator: Authenticator;
  robots: RobotStore;
  challenger: Challenger;
  /** `auth.admins`. */
  admins: ReadonlySet<string>;
  log: Logger;
}

type Identity =
  | { kind: 'anonymous' }
  /** `principal`: the signed-in subject behind one of our own user tokens (undefined: anonymous token). */
  | { kind: 'token'; token: VerifiedToken; ruled: boolean; principal?: UserPrincipal }
  | { kind: 'user'; principal: UserPrincipal };

/** Where an API token is taken: Berth's own JSON API, nothing of the registry. */
const API_PATH = '/api/';

/**
 * A 403's message: what was refused, on which repository, for whom, and what that caller may do
 * there (`alice may pull team/app but not delete`). Names only the caller's own rights.
 */
export function deniedMessage(who: string, repository: string, allowed: ReadonlySet<Action>, wanted: readonly Action[]): string {
  const refused = wanted.filter((a) => !allowed.has(a));
  const may = (['pull', 'push', 'delete'] as const).filter((a) => allowed.has(a));
  const list = (actions: readonly string[]): string => (actions.length <= 1 ? actions.join('') : `${actions.slice(0, -1).join(', ')} or ${actions[actions.length - 1]}`);
  if (may.length === 0) return `${who} may not ${list(refused)} ${repository} (no rule gives ${who} any access to it)`;
  return `${who} may ${may.join(', ')} ${repository} but not ${list(refused)}`;
}

/** How long a checked Basic header skips bcrypt (the user and token are still asked about on each use). */
const BASIC_CACHE_MS = 30_000;

export function tooManyAttempts(refusal: LoginRefusal): RegistryError {
  const { seconds, message } = describeRefusal(refusal);
  return new RegistryError('TOOMANYREQUESTS', message, { headers: { 'Retry-After': String(seconds) } });
}

function describe(identity: Identity): string {
  switch (identity.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'user':
      return identity.principal.robot ? `${identity.principal.name}[token:${identity.principal.robot.id}]` : identity.principal.name;
    case 'token': {
      const name = identity.token.subject || 'anonymous';
      return identity.token.robot ? `${name}[token:${identity.token.robot}]` : name;
    }
  }
}

class RequestPermissions implements Permissions {
  private identity?: Promise<Identity>;
  private resolvedSubject?: string;

  constructor(
    private readonly ctx: Context,
    private readonly core: AuthCore,
    private readonly basicCache: LruCache<string, { principal: UserPrincipal; until: number }>,
  ) {}

  get subject(): string | undefined {
    return this.resolvedSubject;
  }

  private resolve(): Promise<Identity> {
    this.identity ??= this.identify().then((identity) => {
      this.resolvedSubject = describe(identity);
      return identity;
    });
    return this.identity;
  }

  private async identify(): Promise<Identity> {
    const { ctx, core } = this;
    const credentials = parseAuthorization(ctx.get('Authorization'));
    switch (credentials.kind) {
      case 'none':
        return { kind: 'anonymous' };
      case 'invalid':
        throw core.challenger.unauthorized(ctx, credentials.reason, { error: 'invalid_token' });
      case 'bearer': {
        // A registry token seen before skips even the look at its header (the common case).
        let token = core.tokens.cachedAccess(credentials.token);
        if (!token && core.tokens.isApiToken(credentials.token)) return this.apiIdentity(credentials.token);
        try {
          token ??= await core.tokens.verifyAccess(credentials.token);
        } catch (err) {
          if (err instanceof TokenError) throw core.challenger.unauthorized(ctx, err.message, { error: 'invalid_token' });
          throw err;
        }
        // Our own tokens for real users are judged by the rules; internal and external ones by their access list only.
        const ruled = token.issuer === 'own' && !token.internal;
        let principal: UserPrincipal | undefined;
        if (ruled && token.subject !== '') {
          principal = { name: token.subject };
          if (token.robot) {
            const robot = await core.robots.active(token.robot);
            if (!robot || robot.user !== token.subject) {
              throw core.challenger.unauthorized(ctx, `robot token ${token.robot} was revoked or has expired: sign in again with a valid one`, { error: 'invalid_token' });
            }
            principal.robot = robot;
          }
        }
        return { kind: 'token', token, ruled, ...(principal ? { principal } : {}) };
      }
      case 'basic': {
        const key = createHash('sha256').update(ctx.get('Authorization')).digest('base64');
        const hit = this.basicCache.get(key);
        if (hit && hit.until > Date.now()) {
          // The bcrypt work is what the cache saves; whether the user or token still stands is
          // asked every time (cheap), so a removal or revocation counts at once.
          const principal = await core.authenticator.stillValid(hit.principal);
          if (principal) return { kind: 'user', principal };
          this.basicCache.delete(key);
        }
        const result = await core.authenticator.login(credentials.username, credentials.password, 'basic', ctx.ip);
        if (!result.ok) {
          if (result.refused) throw tooManyAttempts(result.refused);
          throw core.challenger.unauthorized(ctx, result.reason ?? 'invalid username or password');
        }
        this.basicCache.set(key, { principal: result.principal, until: Date.now() + BASIC_CACHE_MS });
        return { kind: 'user', principal: result.principal };
      }
    }
  }

  /** The user behind an API token, while it still stands (its password unchanged, not removed). */
  private async apiIdentity(text: string): Promise<Identity> {
    const { ctx, core } = this;
    if (!ctx.path.startsWith(API_PATH)) throw core.challenger.unauthorized(ctx, 'an API token is taken at /api/ only: ask /token for a registry token', { error: 'invalid_token' });
    let principal: UserPrincipal | undefined;
    try {
      principal = await core.authenticator.fromRefresh(await core.tokens.verifyApi(text));
    } catch (err) {
      if (err instanceof TokenError) throw core.challenger.unauthorized(ctx, err.message, { error: 'invalid_token' });
      throw err;
    }
    if (!principal) throw core.challenger.unauthorized(ctx, 'signed out: the password changed, the user was removed or the robot token revoked', { error: 'invalid_token' });
    return { kind: 'user', principal };
  }

  /** The actions allowed on `repository`, and how to refuse the rest. */
  private async check(repository: string, actions: readonly Action[]): Promise<RegistryError | undefined> {
    const identity = await this.resolve();
    const { ctx, core } = this;
    // Built only for a refusal: the allowed path (every pull) needs no scope string.
    const scope = (): string => repositoryScope(repository, actions);
    switch (identity.kind) {
      case 'anonymous': {
        const allowed = repositoryActions(core.policy, undefined, repository);
        return actions.every((a) => allowed.has(a)) ? undefined : core.challenger.unauthorized(ctx, 'authentication required', { scope: scope() });
      }
      case 'user': {
        const allowed = repositoryActions(core.policy, identity.principal, repository);
        return actions.every((a) => allowed.has(a)) ? undefined : core.challenger.denied(ctx, deniedMessage(describe(identity), repository, allowed, actions), scope());
      }
      case 'token': {
        if (actions.every((a) => tokenAllows(identity.token, 'repository', repository, a))) return undefined;
        if (identity.principal) {
          const allowed = repositoryActions(core.policy, identity.principal, repository);
          if (!actions.every((a) => allowed.has(a))) return core.challenger.denied(ctx, deniedMessage(describe(identity), repository, allowed, actions), scope());
        }
        const message = identity.token.subject === '' ? 'authentication required' : 'the token does not grant this access';
        return core.challenger.unauthorized(ctx, message, { scope: scope(), error: 'insufficient_scope' });
      }
    }
  }

  async require(repository: string, actions: Action[]): Promise<void> {
    const refusal = await this.check(repository, actions);
    if (refusal) throw refusal;
  }

  async can(repository: string, action: Action): Promise<boolean> {
    return (await this.check(repository, [action])) === undefined;
  }

  async authenticate(): Promise<void> {
    await this.resolve();
  }

  async principal(): Promise<PrincipalRef | undefined> {
    const identity = await this.resolve();
    const principal = identity.kind === 'anonymous' ? undefined : identity.principal;
    return principal && { user: principal.name, ...(principal.robot ? { robot: principal.robot.id } : {}) };
  }

  async admin(): Promise<boolean> {
    const identity = await this.resolve();
    return identity.kind === 'user' && !identity.principal.robot && this.core.admins.has(identity.principal.name);
  }

  async requireAuthenticated(): Promise<void> {
    const identity = await this.resolve();
    if (identity.kind === 'anonymous') throw this.core.challenger.unauthorized(this.ctx, 'authentication required');
  }

  async requireCatalog(): Promise<void> {
    const identity = await this.resolve();
    const { ctx, core } = this;
    switch (identity.kind) {
      case 'anonymous':
        throw core.challenger.unauthorized(ctx, 'authentication required', { scope: CATALOG_SCOPE });
      case 'user':
        if (!catalogAllowed(identity.principal)) throw core.challenger.denied(ctx, `${describe(identity)} may not list the catalog`, CATALOG_SCOPE);
        return;
      case 'token':
        if (tokenAllows(identity.token, 'registry', 'catalog', '*')) return;
        if (identity.principal && !catalogAllowed(identity.principal)) {
          throw core.challenger.denied(ctx, `${describe(identity)} may not list the catalog`, CATALOG_SCOPE);
        }
        throw core.challenger.unauthorized(ctx, 'the token does not grant this access', { scope: CATALOG_SCOPE, error: 'insufficient_scope' });
    }
  }

  readable(): CanRead {
    return async (name: string) => {
      const identity = await this.resolve();
      const { policy } = this.core;
      switch (identity.kind) {
        case 'anonymous':
          return repositoryActions(policy, undefined, name).has('pull');
        case 'user':
          return repositoryActions(policy, identity.principal, name).has('pull');
        case 'token':
          return identity.ruled ? repositoryActions(policy, identity.principal, name).has('pull') : tokenAllows(identity.token, 'repository', name, 'pull');
      }
    };
  }
}

export function authMiddleware(core: AuthCore): Middleware<AppState> {
  const basicCache = new LruCache<string, { principal: UserPrincipal; until: number }>(1000);
  return async (ctx, next) => {
    ctx.state.permissions = new RequestPermissions(ctx, core, basicCache);
    await next();
  };
}
