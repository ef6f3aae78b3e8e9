/**
 * Access and refresh tokens: issued as JWTs signed with Berth's key (jose), verified for every
 * Bearer request. What a token must pass (distribution's docs/spec/auth/jwt.md):
 * a signature by a trusted key with an allowed asymmetric algorithm (never `none`, never HMAC),
 * the issuer that key belongs to, our service as audience, exp/nbf within a small clock skew.
 * Verified tokens are cached by their exact string until they expire, so a token costs one
 * signature check however many requests carry it.
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { LruCache } from '../util/index.js';
import type { AuthConfig } from './config.js';
import { ALLOWED_ALGORITHMS, type SigningKey, type VerificationKey } from './keys.js';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface VerifiedToken {
  /** Signed by Berth itself, or by the configured external token server. */
  issuer: 'own' | 'external';
  /** `sub`: a user name, or empty for an anonymous token. */
  subject: string;
  /** The robot token it was issued for (own tokens). */
  robot?: string;
  /** Issued by Berth to itself (the build pusher): its access list is all it has. */
  internal: boolean;
  /** ms since the epoch. */
  expiresAt: number;
  /** `type:name` -> actions; `repository(class)` counts as `repository`. */
  access: Map<string, Set<string>>;
}

/** Whether the token's access list holds `action` on the resource (`*` holds every action). */
export function tokenAllows(token: VerifiedToken, type: string, name: string, action: string): boolean {
  const actions = token.access.get(`${type}:${name}`);
  return actions !== undefined && (actions.has(action) || actions.has('*'));
}

/** A token that fails verification. The message is safe to show the client. */
export class TokenError extends Error {}

export interface RefreshClaims {
  subject: string;
  /** The password-hash fingerprint it was issued under (user logins). */
  fingerprint?: string;
  robot?: string;
}

const ACCESS_TYP = 'JWT';
const REFRESH_TYP = 'berth-refresh+jwt';
/**
 * An API token stands for its user at Berth's own `/api` (the console): the user's rights by the
 * rules, asked afresh on every request, never an `access` list. Its own `typ` and audience
 * (`<service>/api`), so no registry, Berth's /v2 included, takes it for an access token.
 */
const API_TYP = 'berth-api+jwt';
/** Tokens longer than this are not even parsed (a real one is well under 4 KiB). */
export const MAX_TOKEN_LENGTH = 8192;
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_ACCESS_ENTRIES = 256;

/** Whether `text` has a JWT's shape (three base64url parts), before any verification. */
export function looksLikeJwt(text: string): boolean {
  return text.length <= MAX_TOKEN_LENGTH && SHAPE.test(text);
}
const CACHE_SIZE = 10_000;

function parseAccess(value: unknown): Map<string, Set<string>> {
  const access = new Map<string, Set<string>>();
  if (value === undefined) return access;
  if (!Array.isArray(value) || value.length > MAX_ACCESS_ENTRIES) throw new TokenError('invalid access claim');
  for (const entry of value as unknown[]) {
    const e = entry as Partial<AccessEntry> | null;
    if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || typeof e.name !== 'string' || !Array.isArray(e.actions)) {
      throw new TokenError('invalid access claim');
    }
    if (!e.actions.every((a) => typeof a === 'string')) throw new TokenError('invalid access claim');
    // The resource class is deprecated and ignored: repository(plugin) is repository.
    const paren = e.type.indexOf('(');
    const key = `${paren >= 0 && e.type.endsWith(')') ? e.type.slice(0, paren) : e.type}:${e.name}`;
    const actions = access.get(key) ?? new Set<string>();
    for (const action of e.actions) actions.add(action);
    access.set(key, actions);
  }
  return access;
}

/** Turns jose's errors into messages for the client (no internals). */
function reason(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError('token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new TokenError('token not yet valid');
    if (err.claim === 'aud') return new TokenError('token is for another service');
    if (err.claim === 'iss') return new TokenError('token from an untrusted issuer');
    if (err.claim === 'typ') return new TokenError('not an access token');
    return new TokenError(`invalid token claim ${err.claim}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('token algorithm not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenError('invalid token signature');
  return new TokenError('malformed token');
}

export class TokenService {
  private readonly cache = new LruCache<string, VerifiedToken>(CACHE_SIZE);

  constructor(
    private readonly config: AuthConfig,
    private readonly signing: SigningKey,
    private readonly ownKeys: VerificationKey[],
    private readonly externalKeys: VerificationKey[],
    private readonly now: () => number = Date.now,
  ) {}

  /** The public keys to publish at /.well-known/jwks.json. */
  jwks(): { keys: object[] } {
    return { keys: [this.signing.publicJwk] };
  }

  async issueAccess(options: { subject: string; access: AccessEntry[]; robot?: string; internal?: boolean; ttl?: number }): Promise<{
    token: string;
    expiresIn: number;
    issuedAt: string;
  }> {
    const ttl = options.ttl ?? this.config.tokenTtl;
    const iat = Math.floor(this.now() / 1000);
    const claims: JWTPayload = { access: options.access };
    if (options.robot) claims.robot = options.robot;
    if (options.internal) claims.internal = true;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: this.signing.alg, kid: this.signing.kid, typ: ACCESS_TYP })
      .setIssuer(this.config.issuer)
      .setSubject(options.subject)
      .setAudience(this.config.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.signing.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(iat * 1000).toISOString() };
  }

  /** A refresh token (a JWT of its own `typ`, useless at the registry). Undefined when disabled. */
  async issueRefresh(claims: RefreshClaims): Promise<string | undefined> {
    if (this.config.refreshTokenTtl === 0) return undefined;
    return (await this.signIdentity(claims, 'refresh', REFRESH_TYP, this.config.service, this.config.refreshTokenTtl)).token;
  }

  async verifyRefresh(token: string): Promise<RefreshClaims> {
    return this.verifyIdentity(token, 'refresh', REFRESH_TYP, this.config.service, 'not a refresh token');
  }

  /** An API token for a signed-in user (`API_SCOPE`): it lives as long as an access token. */
  issueApi(claims: RefreshClaims): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    return this.signIdentity(claims, 'api', API_TYP, this.apiAudience, this.config.tokenTtl);
  }

  /** Checks an API token's signature, `typ`, audience and time; whether its user still stands is the caller's question. */
  verifyApi(token: string): Promise<RefreshClaims> {
    return this.verifyIdentity(token, 'api', API_TYP, this.apiAudience, 'not an API token');
  }

  /** Whether a Bearer token says it is an API token (before verification: only to pick the check). */
  isApiToken(token: string): boolean {
    if (!looksLikeJwt(token)) return false;
    try {
      return decodeProtectedHeader(token).typ === API_TYP;
    } catch {
      return false;
    }
  }

  private get apiAudience(): string {
    return `${this.config.service}/api`;
  }

  /** A token that names a user (refresh and API tokens): the password-hash fingerprint or robot token it was issued under. */
  private async signIdentity(claims: RefreshClaims, use: string, typ: string, audience: string, ttl: number) {
    const iat = Math.floor(this.now() / 1000);
    const payload: JWTPayload = { use };
    if (claims.fingerprint) payload.pwd = claims.fingerprint;
    if (claims.robot) payload.robot = claims.robot;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: this.signing.alg, kid: this.signing.kid, typ })
      .setIssuer(this.config.issuer)
      .setSubject(claims.subject)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.signing.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(iat * 1000).toISOString() };
  }

  private async verifyIdentity(token: string, use: string, typ: string, audience: string, wrong: string): Promise<RefreshClaims> {
    const payload = await this.verifyWith(token, this.ownKeys, this.config.issuer, typ, audience);
    if (payload.use !== use || typeof payload.sub !== 'string' || payload.sub === '') throw new TokenError(wrong);
    return {
      subject: payload.sub,
      ...(typeof payload.pwd === 'string' ? { fingerprint: payload.pwd } : {}),
      ...(typeof payload.robot === 'string' ? { robot: payload.robot } : {}),
    };
  }

  /** Verifies a Bearer token for the registry (cached until it expires). */
  /** An access token verified before and not expired since; undefined otherwise (a map lookup). */
  cachedAccess(token: string): VerifiedToken | undefined {
    const cached = this.cache.get(token);
    return cached && cached.expiresAt + this.config.clockSkew * 1000 > this.now() ? cached : undefined;
  }

  async verifyAccess(token: string): Promise<VerifiedToken> {
    const cached = this.cachedAccess(token);
    if (cached) return cached;

    const own = this.issuerOf(token) === this.config.issuer;
    const payload = own
      ? await this.verifyWith(token, this.ownKeys, this.config.issuer, ACCESS_TYP)
      : await this.verifyWith(token, this.externalKeys, this.config.external.issuer, undefined);
    if (payload.use !== undefined) throw new TokenError('not an access token');
    if (typeof payload.exp !== 'number') throw new TokenError('token without expiry');
    const verified: VerifiedToken = {
      issuer: own ? 'own' : 'external',
      subject: typeof payload.sub === 'string' ? payload.sub : '',
      internal: own && payload.internal === true,
      expiresAt: payload.exp * 1000,
      access: parseAccess(payload.access),
      ...(own && typeof payload.robot === 'string' ? { robot: payload.robot } : {}),
    };
    this.cache.set(token, verified);
    return verified;
  }

  /** The token's `iss` before verification, only to pick the keys to verify it with. */
  private issuerOf(token: string): string {
    if (token.length > MAX_TOKEN_LENGTH || !SHAPE.test(token)) throw new TokenError('malformed token');
    let header;
    let payload;
    try {
      header = decodeProtectedHeader(token);
      payload = decodeJwt(token);
    } catch {
      throw new TokenError('malformed token');
    }
    if (typeof header.alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(header.alg)) {
      throw new TokenError('token algorithm not allowed');
    }
    const iss = payload.iss;
    if (typeof iss !== 'string' || (iss !== this.config.issuer && (this.config.external.issuer === '' || iss !== this.config.external.issuer))) {
      throw new TokenError('token from an untrusted issuer');
    }
    return iss;
  }

  private async verifyWith(token: string, keys: VerificationKey[], issuer: string, typ: string | undefined, audience = this.config.service): Promise<JWTPayload> {
    if (token.length > MAX_TOKEN_LENGTH || !SHAPE.test(token)) throw new TokenError('malformed token');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new TokenError('malformed token');
    }
    // The key the token names; without a match, every key of that issuer (a short list).
    const named = kid === undefined ? [] : keys.filter((k) => k.kids.includes(kid));
    const candidates = named.length > 0 ? named : keys;
    if (candidates.length === 0) throw new TokenError('no key to verify the token');
    let failure: unknown;
    for (const candidate of candidates) {
      try {
        const { payload } = await jwtVerify(token, candidate.key, {
          algorithms: candidate.algorithms.filter((a) => (ALLOWED_ALGORITHMS as readonly string[]).includes(a)),
          issuer,
          audience,
          clockTolerance: this.config.clockSkew,
          requiredClaims: ['exp'],
          currentDate: new Date(this.now()),
          ...(typ ? { typ } : {}),
        });
        return payload;
      } catch (err) {
        failure = err;
        // Only a wrong key is worth another try; a bad claim is bad under every key.
        if (!(err instanceof errors.JWSSignatureVerificationFailed) && !(err instanceof errors.JOSEAlgNotAllowed)) break;
      }
    }
    throw reason(failure);
  }
}
