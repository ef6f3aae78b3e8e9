/**
 * Reverse proxies: only from the addresses in `trustedProxies` are `X-Forwarded-For`, `-Proto` and
 * `-Host` believed. The middleware puts what it concludes on every request, before anything logs
 * or answers: `ctx.request.ip` (the client, for the request log) and `ctx.state.origin` (the
 * scheme and host the client used, for the token realm). From anyone else those headers are
 * ignored: a client cannot make Berth log another address or name another realm.
 */
import { BlockList, isIP } from 'node:net';
import type { Middleware } from 'koa';
import { ConfigError } from '../config-schema.js';
import type { AppState } from './context.js';

export interface Origin {
  protocol: 'http' | 'https';
  /** `host[:port]` as the client wrote it (validated). */
  host: string;
}

/** One CIDR or bare address: `10.0.0.0/8`, `192.168.1.10`, `fd00::/8`. */
function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  if (text.length > 64) return undefined;
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The config check of `trustedProxies`: a list of CIDRs. */
export function checkProxies(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ConfigError(`${key}: must be a list of addresses or CIDRs, like [10.0.0.0/8]`);
  for (const entry of value as string[]) {
    if (!parseCidr(entry)) throw new ConfigError(`${key}: ${JSON.stringify(entry.slice(0, 100))} is not an address or CIDR (like 10.0.0.0/8 or fd00::/8)`);
  }
  return value as string[];
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) -> `10.0.0.1`. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr);
      if (parsed) this.list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.empty = cidrs.length === 0;
  }

  has(address: string): boolean {
    const plain = plainAddress(address);
    const version = isIP(plain);
    return version !== 0 && this.list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}

const HOST = /^(?:\[[0-9a-fA-F:.]{1,64}\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/;
/** Hops looked at in X-Forwarded-For: a longer chain is cut (from the client's side). */
const MAX_HOPS = 20;
const MAX_HEADER = 4096;

function firstValue(header: string): string {
  return header.slice(0, MAX_HEADER).split(',')[0]!.trim();
}

/**
 * The client's address: walking X-Forwarded-For from the nearest hop, the first address that is
 * not a trusted proxy (the peer itself when it is not one).
 */
export function clientAddress(peer: string, forwardedFor: string, trusted: TrustedProxies): string {
  let client = plainAddress(peer);
  if (!trusted.has(client) || forwardedFor === '') return client;
  const hops = forwardedFor.slice(0, MAX_HEADER).split(',').slice(-MAX_HOPS).map((h) => plainAddress(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) break; // garbage: stop believing at the last good hop
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

export function proxyMiddleware(trusted: TrustedProxies): Middleware<AppState> {
  return async (ctx, next) => {
    const peer = ctx.req.socket.remoteAddress ?? '';
    const encrypted = (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
    let protocol: Origin['protocol'] = encrypted ? 'https' : 'http';
    let host = ctx.get('Host');
    if (trusted.has(peer)) {
      ctx.request.ip = clientAddress(peer, ctx.get('X-Forwarded-For'), trusted);
      const proto = firstValue(ctx.get('X-Forwarded-Proto')).toLowerCase();
      if (proto === 'http' || proto === 'https') protocol = proto;
      const forwardedHost = firstValue(ctx.get('X-Forwarded-Host'));
      if (HOST.test(forwardedHost)) host = forwardedHost;
    } else {
      ctx.request.ip = plainAddress(peer);
    }
    ctx.state.origin = { protocol, host: HOST.test(host) ? host : '' };
    await next();
  };
}
