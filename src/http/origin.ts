/**
 * The caller of a request as the registry's observer records it (src/registry/observer.ts): who
 * (the signed-in subject, a robot token by its id) and the request (id, client address, user
 * agent). Read when a handler changes something, after auth has answered who the caller is.
 */
import type { ChangeOrigin } from '../registry/observer.js';
import type { HttpContext } from './context.js';

/** The auth layer names a robot token's caller `USER[token:ID]` (src/auth/middleware.ts). */
const ROBOT_SUBJECT = /^([^[\]]{1,256})\[token:([A-Za-z0-9_-]{1,128})\]$/;

/** A subject as an actor: `ci[token:k3f9]` -> { name: 'ci', token: 'k3f9' }; none (auth off) -> {}. */
export function actorOf(subject: string | undefined): ChangeOrigin['actor'] {
  if (subject === undefined) return {};
  const robot = ROBOT_SUBJECT.exec(subject);
  return robot ? { name: robot[1]!, token: robot[2]! } : { name: subject };
}

/** The scheme and host come through trusted proxies (src/http/proxies.ts): what the client used. */
export function changeOrigin(ctx: HttpContext): ChangeOrigin {
  const protocol = ctx.state.origin?.protocol ?? ctx.protocol;
  const host = (ctx.state.origin?.host || ctx.host).slice(0, 256);
  return {
    actor: actorOf(ctx.state.permissions.subject),
    request: { id: ctx.state.requestId, addr: ctx.ip, host, method: ctx.method, useragent: ctx.get('User-Agent').slice(0, 512) },
    baseUrl: `${protocol}://${host}`,
  };
}
