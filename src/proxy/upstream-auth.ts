/**
 * Signing in to an upstream registry, as Docker clients do:
 *
 *   request (anonymous, or with a token already held for its scope)
 *     -> 401 WWW-Authenticate: Bearer realm=R,service=S,scope=X
 *        -> GET R?service=S&scope=X (Basic with the configured credentials, or anonymous)
 *        -> {"token": T, "expires_in": N} -> the request again with `Authorization: Bearer T`
 *     -> 401 WWW-Authenticate: Basic -> the request again with the configured credentials
 *
 * Once an upstream has named its realm, tokens for new scopes are fetched before the first
 * request (no 401 round trip per repository). Tokens are kept per scope until shortly before
 * they expire. Credentials go only to the upstream's own origin and to its realm, never over
 * plain HTTP when the upstream itself is HTTPS, and they and the tokens are never logged or put
 * into an error message.
 */
import { type Dispatcher, request } from 'undici';
import { LruCache } from '../util/index.js';
import type { Challenge } from './challenge.js';
import { UpstreamError, readCapped, statusError, transportError } from './upstream-errors.js';

const MAX_TOKEN_RESPONSE = 64 * 1024;
/** A token without `expires_in` lives 60 s (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

interface HeldToken {
  header: string;
  expiresAt: number;
}

export interface UpstreamAuthOptions {
  origin: string;
  username: string;
  password: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  userAgent: string;
}

export class UpstreamAuth {
  private realm?: { url: string; service?: string };
  private basic = false;
  private readonly tokens = new LruCache<string, HeldToken>(1000);
  private readonly fetching = new Map<string, Promise<HeldToken>>();

  constructor(private readonly options: UpstreamAuthOptions) {}

  private get credentials(): string | undefined {
    const { username, password } = this.options;
    return username === '' ? undefined : `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /** The Authorization header to send for `scope` now, if any is known to be needed. */
  async header(scope: string): Promise<string | undefined> {
    if (this.basic) return this.credentials;
    if (!this.realm) return undefined;
    const held = this.tokens.get(scope);
    if (held && held.expiresAt > Date.now()) return held.header;
    return (await this.token(scope, scope)).header;
  }

  /**
   * Learns from a 401's challenges how to sign in; true when the request is worth sending again
   * (a token was fetched, or Basic credentials are now known to be wanted).
   */
  async answer(challenges: Challenge[], scope: string): Promise<boolean> {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      this.realm = { url: this.checkRealm(bearer.params.realm!), service: bearer.params.service };
      this.tokens.delete(scope);
      await this.token(scope, bearer.params.scope ?? scope);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.credentials && !this.basic) {
      this.basic = true;
      return true;
    }
    return false;
  }

  private checkRealm(realm: string): string {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamError(this.options.origin, 'invalid', `upstream ${this.options.origin} named a token realm that is no URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamError(this.options.origin, 'invalid', `upstream ${this.options.origin} named a token realm that is not http(s)`);
    if (url.protocol === 'http:' && this.options.origin.startsWith('https:') && this.credentials) {
      throw new UpstreamError(this.options.origin, 'invalid', `upstream ${this.options.origin} named a plain-HTTP token realm (${url.origin}): Berth does not send the credentials there`);
    }
    return url.href;
  }

  /** One token fetch per scope at a time; the result is held under `key`. */
  private token(key: string, scope: string): Promise<HeldToken> {
    let pending = this.fetching.get(key);
    if (!pending) {
      pending = this.fetchToken(scope).finally(() => this.fetching.delete(key));
      this.fetching.set(key, pending);
    }
    return pending.then((held) => {
      this.tokens.set(key, held);
      return held;
    });
  }

  private async fetchToken(scope: string): Promise<HeldToken> {
    const realm = this.realm!;
    const url = new URL(realm.url);
    if (realm.service) url.searchParams.set('service', realm.service);
    for (const part of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', part);
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent, accept: 'application/json' };
    if (this.credentials) headers.authorization = this.credentials;
    const { origin, dispatcher, timeoutMs } = this.options;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    } catch (err) {
      throw transportError(origin, err, 'its token endpoint');
    }
    if (res.statusCode !== 200) throw await statusError(origin, res, 'its token endpoint');
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readCapped(res.body, MAX_TOKEN_RESPONSE)).toString('utf8')) as typeof body;
    } catch {
      throw new UpstreamError(origin, 'invalid', `upstream ${origin}: its token endpoint answered something other than a token`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) {
      throw new UpstreamError(origin, 'invalid', `upstream ${origin}: its token endpoint answered without a token`);
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    // Given back a little early, so a token never expires between fetching it and using it.
    return { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max(seconds * 900, 5_000) };
  }
}
