/**
 * Auth as the app sees it: a middleware that puts the caller's Permissions on every request,
 * and the routes of Berth's own token server (`/token`, `/.well-known/jwks.json`).
 * `mode: none` lets everybody do everything (the laptop default); `mode: token` is Docker token
 * auth with Berth as its own token server, optionally also trusting an external one.
 */
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../http/index.js';
import { ConfigError } from '../config-schema.js';
import { AccessPolicy } from './access.js';
import { LoginBackoff } from './backoff.js';
import { Challenger } from './challenge.js';
import { type AuthConfig, checkAuthConfig } from './config.js';
import { loadExternalKeys, loadSigningKey, ownVerificationKey } from './keys.js';
import { Authenticator } from './login.js';
import { authMiddleware } from './middleware.js';
import { openAccess } from './open.js';
import { PasswordChecker } from './password-checks.js';
import type { Action, PrincipalRef } from './permissions.js';
import { repositoryActions, type UserPrincipal } from './grants.js';
import { isValidName } from '../registry/names.js';
import { RobotStore } from './robots.js';

export { formatRobotScope, isExpired, parseRobotScope, type RobotRecord } from './robots.js';
export { parseExpiry } from './expiry.js';
export { API_SCOPE } from './scope.js';
import { createTokenRouter } from './routes.js';
import { warnAboutExposedSecrets } from './secret-files.js';
import { TokenService } from './token.js';
import { UserStore } from './users.js';

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
  /**
   * Whether `who` (undefined: an anonymous caller) may pull `repository` now, by the rules and
   * the robot token's scope: what a build triggered by hand may read on its caller's behalf. A
   * user since removed, or a token since revoked, has anonymous rights only. True with auth off.
   */
  mayPull(who: PrincipalRef | undefined, repository: string): Promise<boolean>;
  /** Robot tokens, for the admin API (src/admin); undefined when auth is off (no tokens then). */
  robots?: RobotAdmin;
}

export interface RobotAdmin {
  store: RobotStore;
  userExists(name: string): Promise<boolean>;
  /** `auth.robotTokenExpiry`: a new token's expiry when none is asked for. */
  defaultExpiry: string;
}

export interface AuthDeps {
  driver: StorageDriver;
  log: Logger;
  /** The configured listen address: without auth, writes are open only on loopback unless `auth.mode: none` was chosen. */
  listen: string;
  /** Told of every sign-in's outcome (metrics). */
  onLogin?: (result: 'success' | 'failure' | 'throttled') => void;
}

export async function createAuth(config: AuthConfig, deps: AuthDeps): Promise<AuthModule> {
  if (config.mode === 'none') return openAccess(config, deps.listen);

  try {
    checkAuthConfig(config);
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError(`config: auth: ${(err as Error).message}`);
  }
  const log = deps.log.child({ component: 'auth' });
  const signing = await loadSigningKey(config, deps.driver, log);
  await warnAboutExposedSecrets(config, deps.driver, log);
  const externalKeys = config.external.issuer ? await loadExternalKeys(config, log) : [];
  const tokens = new TokenService(config, signing, [ownVerificationKey(signing)], externalKeys);
  const policy = new AccessPolicy(config.rules, config.teams);
  const robots = new RobotStore(deps.driver);
  const users = new UserStore(config.usersFile, log);
  await users.refresh();
  const authenticator = new Authenticator(users, robots, new LoginBackoff(config.loginBackoff), new PasswordChecker(config.passwordChecks), log, deps.onLogin);
  const challenger = new Challenger(config);
  log.info({ kid: signing.kid, alg: signing.alg, usersFile: config.usersFile, externalIssuer: config.external.issuer || undefined }, 'token auth on');

  return {
    middleware: authMiddleware({ policy, tokens, authenticator, robots, challenger, admins: new Set(config.admins), log }),
    router: createTokenRouter({ config, policy, tokens, authenticator }),
    async issueInternalToken(subject, repository, actions, ttlSeconds) {
      const { token } = await tokens.issueAccess({
        subject,
        access: [{ type: 'repository', name: repository, actions }],
        internal: true,
        ttl: ttlSeconds,
      });
      return token;
    },
    async mayPull(who, repository) {
      if (!isValidName(repository)) return false;
      let principal: UserPrincipal | undefined;
      if (who && (await users.exists(who.user))) {
        const robot = who.robot === undefined ? undefined : await robots.current(who.robot);
        if (who.robot === undefined || robot?.user === who.user) principal = { name: who.user, ...(robot ? { robot } : {}) };
      }
      return repositoryActions(policy, principal, repository).has('pull');
    },
    robots: { store: robots, userExists: (name) => users.exists(name), defaultExpiry: config.robotTokenExpiry },
  };
}
