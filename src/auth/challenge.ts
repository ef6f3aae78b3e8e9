/**
 * The 401/403 answers of a registry under token auth (RFC 6750 section 3, as distribution's
 * token.md uses it): `WWW-Authenticate: Bearer realm="<token endpoint>",service="<service>",
 * scope="<what the request needed>"`, with `error="invalid_token"` or `error="insufficient_scope"`
 * when a token was given. The realm is `auth.realm`, else the origin the client used + `/token`
 * (behind a proxy listed in `trustedProxies`, its X-Forwarded-Proto and -Host).
 */
import type { Context } from 'koa';
import type { AppState } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import type { AuthConfig } from './config.js';
import type { Action } from './permissions.js';

export type ChallengeError = 'invalid_token' | 'insufficient_scope' | 'invalid_request';

export interface Challenge {
  /** Space-separated scopes the request needed. */
  scope?: string;
  error?: ChallengeError;
}

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/** A challenge parameter value: quoted, with `"` and `\` escaped (our values rarely hold them). */
function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The scope a repository request needs: push implies pull, as clients ask (`pull,push`). */
export function repositoryScope(name: string, actions: readonly Action[]): string {
  const wanted = new Set<Action>(actions);
  if (wanted.has('push')) wanted.add('pull');
  const ordered = (['pull', 'push', 'delete'] as const).filter((a) => wanted.has(a));
  return `repository:${name}:${ordered.join(',')}`;
}

export const CATALOG_SCOPE = 'registry:catalog:*';

/** The OCI error detail distribution sends with a challenge: what was needed. */
function detailOf(scope: string | undefined): unknown {
  if (!scope) return undefined;
  return scope.split(' ').flatMap((s) => {
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    const type = s.slice(0, first);
    const name = s.slice(first + 1, last);
    return s
      .slice(last + 1)
      .split(',')
      .map((action) => ({ Type: type, Name: name, Action: action }));
  });
}

export class Challenger {
  constructor(private readonly config: AuthConfig) {}

  /** Where clients get tokens: the scheme and host the client used (src/http/proxies.ts) + /token. */
  realm(ctx: Context): string {
    if (this.config.realm) return this.config.realm;
    const origin = (ctx.state as AppState).origin;
    const proto = origin?.protocol ?? ctx.protocol;
    let host = origin ? origin.host : ctx.get('Host');
    if (!HOST.test(host)) {
      // No usable Host header: name the address the request came in on.
      const socket = ctx.req.socket;
      const address = socket.localAddress ?? '127.0.0.1';
      host = `${address.includes(':') ? `[${address}]` : address}:${socket.localPort ?? 80}`;
    }
    return `${proto}://${host}/token`;
  }

  header(ctx: Context, challenge: Challenge = {}): string {
    const params = [`realm=${quote(this.realm(ctx))}`, `service=${quote(this.config.service)}`];
    if (challenge.scope) params.push(`scope=${quote(challenge.scope)}`);
    if (challenge.error) params.push(`error=${quote(challenge.error)}`);
    return `Bearer ${params.join(',')}`;
  }

  /** 401 UNAUTHORIZED with the challenge: sign in (or get a token with more scope) and retry. */
  unauthorized(ctx: Context, message: string, challenge: Challenge = {}): RegistryError {
    return new RegistryError('UNAUTHORIZED', message, {
      detail: detailOf(challenge.scope),
      headers: { 'WWW-Authenticate': this.header(ctx, challenge) },
    });
  }

  /** 403 DENIED: the caller is known and may not do this; asking again will not help. */
  denied(ctx: Context, message: string, scope?: string): RegistryError {
    return new RegistryError('DENIED', message, {
      detail: detailOf(scope),
      headers: { 'WWW-Authenticate': this.header(ctx, { scope, error: 'insufficient_scope' }) },
    });
  }
}
