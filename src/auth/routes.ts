/**
 * Berth's own token server (distribution's docs/spec/auth/token.md and oauth.md):
 * - `GET /token?service=&scope=&scope=&offline_token=&client_id=&account=`, with HTTP Basic
 *   credentials (a password or a robot token) or none (an anonymous token);
 * - `POST /token`, an OAuth2 form: `grant_type=password` (username, password) or
 *   `grant_type=refresh_token`, with a space-separated `scope`, and `access_type=offline` for a
 *   refresh token;
 * - `GET /.well-known/jwks.json`, the public key(s) tokens are signed with.
 * A partial grant is not an error: the token holds the intersection of asked and allowed.
 *
 * `scope=berth:api:*` (alone) asks for an API token instead: one that stands for the signed-in
 * user at Berth's own `/api` (the console's sign-in; scope.ts `API_SCOPE`). It is refreshed like
 * any token, with the refresh token of the same sign-in and the same scope.
 *
 * Errors carry every shape clients read: the OCI `errors` list, Docker's `details` string (which
 * the distribution client prefers, mapping 401/403/429 by status), and OAuth2's `error` and
 * `error_description` on POST. Bad credentials are 401 for both methods (RFC 6749 would say 400
 * `invalid_grant`; Docker and containers/image only treat 401 as "wrong password").
 */
import Router from '@koa/router';
import { type HttpContext, type AppState, readSmallBody } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import { type AccessPolicy, ALL_ACTIONS } from './access.js';
import type { AuthConfig } from './config.js';
import { parseAuthorization } from './credentials.js';
import { grantScopes, type UserPrincipal } from './grants.js';
import { type Authenticator, describeRefusal } from './login.js';
import { formatGranted, type ResourceScope, ScopeError, parseScopes } from './scope.js';
import { API_SCOPE } from './scope.js';
import { looksLikeJwt, TokenError, type TokenService, tokenAllows, type VerifiedToken } from './token.js';

export interface TokenRouteDeps {
  config: AuthConfig;
  policy: AccessPolicy;
  tokens: TokenService;
  authenticator: Authenticator;
}

const MAX_FORM_BYTES = 16 * 1024;
/** RFC 6749 appendix A.1: client_id is printable ASCII. Logged only when it looks like that. */
const CLIENT_ID = /^[\x20-\x7e]{1,100}$/;

type OAuthError = 'invalid_request' | 'invalid_grant' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope' | 'slow_down';

class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly oauth: OAuthError,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const OCI_CODE: Record<number, string> = { 400: 'UNSUPPORTED', 401: 'UNAUTHORIZED', 403: 'DENIED', 429: 'TOOMANYREQUESTS' };

function noStore(ctx: HttpContext): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}

function sendJson(ctx: HttpContext, status: number, body: unknown): void {
  noStore(ctx);
  ctx.status = status;
  ctx.set('Content-Type', 'application/json');
  ctx.body = Buffer.from(JSON.stringify(body));
}

function sendError(ctx: HttpContext, err: TokenRequestError, oauthShape: boolean): void {
  ctx.set(err.headers);
  const body: Record<string, unknown> = {
    errors: [{ code: OCI_CODE[err.status] ?? 'UNSUPPORTED', message: err.message }],
    details: err.message,
  };
  if (oauthShape) {
    body.error = err.oauth;
    body.error_description = err.message;
  }
  sendJson(ctx, err.status, body);
}

function badCredentials(reason = 'invalid username or password'): TokenRequestError {
  return new TokenRequestError(401, 'invalid_grant', reason, { 'WWW-Authenticate': 'Basic realm="berth", charset="UTF-8"' });
}

/** The token response both endpoints send (Docker reads `token`, OAuth2 clients `access_token`). */
function tokenBody(issued: { token: string; expiresIn: number; issuedAt: string }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt, ...extra };
}

/** Whether the request asks for an API token; that scope stands alone (a token is one or the other). */
function wantsApiToken(scopes: ResourceScope[]): boolean {
  const [type, name] = API_SCOPE.split(':');
  if (!scopes.some((s) => s.type === type)) return false;
  if (scopes.length > 1 || scopes[0]!.name !== name) throw new TokenRequestError(400, 'invalid_scope', `${API_SCOPE} stands alone: ask for registry scopes in another request`);
  return true;
}

export function createTokenRouter(deps: TokenRouteDeps): Router<AppState> {
  const { config, policy, tokens, authenticator } = deps;
  const router = new Router<AppState>();

  async function login(ctx: HttpContext, username: string, password: string, via: string): Promise<UserPrincipal> {
    const result = await authenticator.login(username, password, via, ctx.ip);
    if (result.ok) return result.principal;
    if (result.refused) {
      const { seconds, message } = describeRefusal(result.refused);
      throw new TokenRequestError(429, 'slow_down', message, { 'Retry-After': String(seconds) });
    }
    throw badCredentials(result.reason);
  }

  function checkService(service: string | undefined): void {
    if (service !== undefined && service !== '' && service !== config.service) {
      throw new TokenRequestError(400, 'invalid_request', `unknown service: this token server serves ${JSON.stringify(config.service)}`);
    }
  }

  function scopesOf(values: string[]): ResourceScope[] {
    try {
      return parseScopes(values);
    } catch (err) {
      if (err instanceof ScopeError) throw new TokenRequestError(400, 'invalid_scope', err.message);
      throw err;
    }
  }

  /**
   * Berth's own clients (buildah pushing a build) sign in with the short-lived internal token they
   * were given as the password: they get a token with what that token holds and nothing more.
   * Undefined when the password is no such token (then it is an ordinary sign-in).
   */
  async function internalGrant(ctx: HttpContext, username: string, password: string, scopes: ResourceScope[]) {
    if (!looksLikeJwt(password) || wantsApiToken(scopes)) return undefined;
    let internal: VerifiedToken;
    try {
      internal = await tokens.verifyAccess(password);
    } catch (err) {
      if (err instanceof TokenError) return undefined;
      throw err;
    }
    if (!internal.internal || internal.subject !== username) return undefined;
    const access = scopes.map((scope) => {
      const wanted = scope.actions.flatMap((a) => (a === '*' ? [...ALL_ACTIONS] : [a]));
      return { type: scope.type, name: scope.name, actions: wanted.filter((a) => tokenAllows(internal, scope.type, scope.name, a)) };
    });
    const ttl = Math.max(1, Math.min(config.tokenTtl, Math.floor((internal.expiresAt - Date.now()) / 1000)));
    const issued = await tokens.issueAccess({ subject: username, access, internal: true, ttl });
    ctx.state.log.info({ user: username, internal: true, granted: formatGranted(access) || undefined }, 'token issued');
    return issued;
  }

  async function issue(ctx: HttpContext, principal: UserPrincipal | undefined, scopes: ResourceScope[], offline: boolean, clientId: string | undefined) {
    const api = wantsApiToken(scopes);
    if (api && !principal) throw badCredentials('an API token is for a signed-in user: give a user name and password');
    const access = api ? [] : grantScopes(policy, principal, scopes);
    const issued = api
      ? await tokens.issueApi({ subject: principal!.name, fingerprint: principal!.fingerprint, robot: principal!.robot?.id })
      : await tokens.issueAccess({ subject: principal?.name ?? '', access, ...(principal?.robot ? { robot: principal.robot.id } : {}) });
    const refresh =
      offline && principal ? await tokens.issueRefresh({ subject: principal.name, fingerprint: principal.fingerprint, robot: principal.robot?.id }) : undefined;
    ctx.state.log.info(
      {
        user: principal?.name ?? 'anonymous',
        robotToken: principal?.robot?.id,
        client: clientId && CLIENT_ID.test(clientId) ? clientId : undefined,
        granted: api ? API_SCOPE : formatGranted(access) || undefined,
        refresh: refresh !== undefined,
      },
      'token issued',
    );
    return { access, issued, refresh, scope: api ? API_SCOPE : formatGranted(access) };
  }

  router.get('/token', async (ctx) => {
    try {
      const query = new URLSearchParams(ctx.querystring);
      checkService(query.get('service') ?? undefined);
      const scopes = scopesOf(query.getAll('scope'));
      const credentials = parseAuthorization(ctx.get('Authorization'));
      if (credentials.kind === 'basic') {
        const internal = await internalGrant(ctx, credentials.username, credentials.password, scopes);
        if (internal) {
          sendJson(ctx, 200, tokenBody(internal));
          return;
        }
      }
      let principal: UserPrincipal | undefined;
      if (credentials.kind === 'basic') principal = await login(ctx, credentials.username, credentials.password, 'token');
      else if (credentials.kind !== 'none') throw badCredentials();
      // `account` is only a hint; the credentials decide who this is.
      const offline = query.get('offline_token') === 'true';
      const { issued, refresh } = await issue(ctx, principal, scopes, offline, query.get('client_id') ?? undefined);
      sendJson(ctx, 200, tokenBody(issued, refresh ? { refresh_token: refresh } : {}));
    } catch (err) {
      if (!(err instanceof TokenRequestError)) throw err;
      sendError(ctx, err, false);
    }
  });

  router.post('/token', async (ctx) => {
    try {
      if (!ctx.is('application/x-www-form-urlencoded')) {
        throw new TokenRequestError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
      }
      const raw = await readSmallBody(ctx, MAX_FORM_BYTES, () => new RegistryError('SIZE_INVALID', 'token request too large', { status: 413 }));
      const form = new URLSearchParams(raw.toString('utf8'));
      checkService(form.get('service') ?? undefined);
      const scopes = scopesOf(form.getAll('scope'));
      const clientId = form.get('client_id') ?? undefined;
      let principal: UserPrincipal;
      let refreshGiven: string | undefined;
      switch (form.get('grant_type')) {
        case 'password': {
          const username = form.get('username');
          const password = form.get('password');
          if (!username || password === null) throw new TokenRequestError(400, 'invalid_request', 'username and password are required');
          const internal = await internalGrant(ctx, username, password, scopes);
          if (internal) {
            sendJson(ctx, 200, tokenBody(internal));
            return;
          }
          principal = await login(ctx, username, password, 'oauth');
          break;
        }
        case 'refresh_token': {
          refreshGiven = form.get('refresh_token') ?? '';
          let found: UserPrincipal | undefined;
          try {
            found = await authenticator.fromRefresh(await tokens.verifyRefresh(refreshGiven));
          } catch (err) {
            if (!(err instanceof TokenError)) throw err;
          }
          if (!found) throw new TokenRequestError(401, 'invalid_grant', 'invalid or expired refresh token');
          principal = found;
          break;
        }
        default:
          throw new TokenRequestError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
      }
      const offline = refreshGiven === undefined && form.get('access_type') === 'offline';
      const { issued, refresh, scope } = await issue(ctx, principal, scopes, offline, clientId);
      const refreshToken = refreshGiven ?? refresh;
      sendJson(ctx, 200, tokenBody(issued, { scope, ...(refreshToken ? { refresh_token: refreshToken } : {}) }));
    } catch (err) {
      if (!(err instanceof TokenRequestError)) throw err;
      sendError(ctx, err, true);
    }
  });

  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Content-Type', 'application/json');
    ctx.body = Buffer.from(JSON.stringify(tokens.jwks()));
  });

  return router;
}
