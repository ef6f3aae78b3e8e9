/**
 * Berth's client for an upstream registry (undici's `request`: Node streams for bodies, measured
 * against node:http and fetch in the README's "Pull-through cache"). It speaks the pull side of
 * the distribution API: manifests and blobs (GET and HEAD), tag lists and referrers. It signs in
 * as upstream-auth.ts describes, follows redirects itself (blob downloads go to CDNs: the
 * Authorization header is sent to the upstream's own origin only), bounds every wait with the
 * proxy's `timeout`, and verifies what it returns: a manifest whose bytes do not hash to the digest
 * asked for (or to the upstream's Docker-Content-Digest) is an error, never a result.
 */
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { digestOf, isDigest, parseDigest } from '../registry/digest.js';
import { MANIFEST_MEDIA_TYPES } from '../registry/manifest.js';
import { checkName, checkTag } from '../registry/names.js';
import { parseChallenges } from './challenge.js';
import { UpstreamAuth } from './upstream-auth.js';
import { UpstreamError, readCapped, statusError, transportError } from './upstream-errors.js';

export interface UpstreamOptions {
  /** The registry's origin, `https://ghcr.io`. */
  url: string;
  username: string;
  password: string;
  /** Longest wait for an answer's headers, and between two pieces of a body. */
  timeoutMs: number;
}

export interface UpstreamManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** The bytes (GET only), checked against `digest`. */
  bytes?: Buffer;
}

export interface UpstreamBlob {
  /** From Content-Length, when the upstream sent one. */
  size?: number;
  /** The bytes (GET only); the caller reads or destroys it. */
  body?: Readable;
}

export interface UpstreamTags {
  tags: string[];
  /** `n` and `last` of the next page, when the upstream has one. */
  next?: { n?: string; last?: string };
}

export interface UpstreamReferrers {
  /** The image index the upstream answered. */
  index: { schemaVersion?: unknown; mediaType?: unknown; manifests: unknown[] };
  /** Whether the upstream applied the artifactType filter itself. */
  filtered: boolean;
}

const MAX_REDIRECTS = 5;
const MAX_JSON = 4 * 1024 * 1024;
const USER_AGENT = 'berth (pull-through cache)';
const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(res: Dispatcher.ResponseData): number | undefined {
  const text = header(res, 'content-length');
  return text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` -> the type alone. */
function mediaTypeOf(res: Dispatcher.ResponseData): string {
  return (header(res, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The `n` and `last` of a `Link: </v2/x/tags/list?n=2&last=b>; rel="next"` header. */
function nextPage(link: string | undefined): UpstreamTags['next'] {
  if (!link || link.length > 2048) return undefined;
  for (const part of link.split(',')) {
    const open = part.indexOf('<');
    const close = part.indexOf('>', open + 1);
    if (open < 0 || close < 0 || !/rel="?next"?/.test(part.slice(close))) continue;
    try {
      const query = new URL(part.slice(open + 1, close), 'http://upstream').searchParams;
      const next = { n: query.get('n') ?? undefined, last: query.get('last') ?? undefined };
      return next.last === undefined ? undefined : next;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export class UpstreamClient {
  readonly origin: string;
  private readonly agent: Agent;
  private readonly auth: UpstreamAuth;
  private readonly timeoutMs: number;

  constructor(options: UpstreamOptions) {
    this.origin = new URL(options.url).origin;
    this.timeoutMs = options.timeoutMs;
    this.agent = new Agent({ connect: { timeout: options.timeoutMs }, keepAliveTimeout: 30_000, connections: 64 });
    this.auth = new UpstreamAuth({ origin: this.origin, username: options.username, password: options.password, dispatcher: this.agent, timeoutMs: options.timeoutMs, userAgent: USER_AGENT });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * Sends a request for `name`'s content: signs in when the upstream asks, follows redirects.
   * Any answer is returned (the caller looks at its status); no answer throws UpstreamError.
   */
  private async send(method: 'GET' | 'HEAD', path: string, name: string, accept: string, what: string): Promise<Dispatcher.ResponseData> {
    const scope = `repository:${name}:pull`;
    let url = new URL(path, this.origin);
    let signedIn = false;
    for (let hop = 0; ; ) {
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept };
      const own = url.origin === this.origin;
      if (own) {
        const authorization = await this.auth.header(scope);
        if (authorization) headers.authorization = authorization;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method, headers, dispatcher: this.agent, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      } catch (err) {
        throw transportError(this.origin, err, what);
      }
      if (res.statusCode === 401 && own && !signedIn) {
        const challenges = parseChallenges(header(res, 'www-authenticate'));
        await res.body.dump().catch(() => {});
        signedIn = true;
        if (await this.auth.answer(challenges, scope)) continue;
        throw new UpstreamError(this.origin, 'status_401', `upstream ${this.origin} answered 401 for ${what} and named no way to sign in that Berth has credentials for`, 401);
      }
      const location = header(res, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        await res.body.dump().catch(() => {});
        if (++hop > MAX_REDIRECTS) throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} redirected ${what} too many times`);
        url = new URL(location, url);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} redirected ${what} to a non-http URL`);
        continue;
      }
      return res;
    }
  }

  /**
   * A manifest by tag or digest. HEAD gives its digest (when the upstream sends
   * Docker-Content-Digest) without the bytes; GET gives the bytes, verified, at most `maxBytes`.
   */
  async manifest(name: string, reference: string, method: 'GET' | 'HEAD', maxBytes: number): Promise<UpstreamManifest> {
    checkPathParts(name, reference);
    const what = `manifest ${name}:${reference}`.replace(/:(sha\d+:)/, '@$1');
    const res = await this.send(method, `/v2/${name}/manifests/${reference}`, name, MANIFEST_ACCEPT, what);
    if (res.statusCode !== 200) throw await statusError(this.origin, res, what);
    const claimed = header(res, 'docker-content-digest');
    const mediaType = mediaTypeOf(res);
    if (method === 'HEAD') {
      await res.body.dump().catch(() => {});
      const digest = isDigest(reference) ? reference : claimed;
      if (digest) parseDigestOrFail(this.origin, digest, what);
      return { digest: digest ?? '', mediaType, size: contentLength(res) ?? 0 };
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(res.body, maxBytes);
    } catch (err) {
      if (err instanceof RangeError) throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} sent ${what} larger than the limit of ${maxBytes} bytes`);
      throw transportError(this.origin, err, what);
    }
    const expected = isDigest(reference) ? reference : claimed;
    const algorithm = expected ? parseDigestOrFail(this.origin, expected, what).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (expected && digest !== expected) {
      throw new UpstreamError(this.origin, 'digest_mismatch', `upstream ${this.origin} sent ${what} whose bytes hash to ${digest}, not ${expected}`);
    }
    return { digest, mediaType, size: bytes.length, bytes };
  }

  /** A blob: HEAD for its size, GET for its bytes as a stream (the caller verifies them while storing). */
  async blob(name: string, digest: string, method: 'GET' | 'HEAD'): Promise<UpstreamBlob> {
    checkPathParts(name, digest);
    const what = `blob ${name}@${digest}`;
    const res = await this.send(method, `/v2/${name}/blobs/${digest}`, name, '*/*', what);
    if (res.statusCode !== 200) throw await statusError(this.origin, res, what);
    if (method === 'HEAD') {
      await res.body.dump().catch(() => {});
      return { size: contentLength(res) };
    }
    return { size: contentLength(res), body: res.body };
  }

  /** One page of the upstream's tag list. */
  async tags(name: string, page: { n?: string; last?: string }): Promise<UpstreamTags> {
    checkPathParts(name);
    const query = new URLSearchParams();
    if (page.n !== undefined) query.set('n', page.n);
    if (page.last !== undefined) query.set('last', page.last);
    const what = `the tags of ${name}`;
    const res = await this.send('GET', `/v2/${name}/tags/list${query.size > 0 ? `?${query}` : ''}`, name, 'application/json', what);
    if (res.statusCode !== 200) throw await statusError(this.origin, res, what);
    const body = await this.json(res, what);
    const tags = (body as { tags?: unknown }).tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} sent ${what} in an unknown shape`);
    return { tags: tags as string[], next: nextPage(header(res, 'link')) };
  }

  /** The referrers of `digest`, or undefined when the upstream has no referrers API (404). */
  async referrers(name: string, digest: string, artifactType?: string): Promise<UpstreamReferrers | undefined> {
    checkPathParts(name, digest);
    const what = `the referrers of ${name}@${digest}`;
    const query = artifactType === undefined ? '' : `?${new URLSearchParams({ artifactType })}`;
    const res = await this.send('GET', `/v2/${name}/referrers/${digest}${query}`, name, 'application/vnd.oci.image.index.v1+json', what);
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return undefined;
    }
    if (res.statusCode !== 200) throw await statusError(this.origin, res, what);
    const index = (await this.json(res, what)) as UpstreamReferrers['index'];
    if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) {
      throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} sent ${what} in an unknown shape`);
    }
    return { index, filtered: (header(res, 'oci-filters-applied') ?? '').split(',').some((f) => f.trim() === 'artifactType') };
  }

  private async json(res: Dispatcher.ResponseData, what: string): Promise<unknown> {
    try {
      return JSON.parse((await readCapped(res.body, MAX_JSON)).toString('utf8'));
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof RangeError) throw new UpstreamError(this.origin, 'invalid', `upstream ${this.origin} sent ${what} that is not JSON of at most ${MAX_JSON} bytes`);
      throw transportError(this.origin, err, what);
    }
  }
}

/** Names and references go into URL paths: only what the grammar allows (checked by callers too). */
function checkPathParts(name: string, reference?: string): void {
  checkName(name);
  if (reference === undefined) return;
  if (isDigest(reference)) parseDigest(reference);
  else checkTag(reference);
}

function parseDigestOrFail(origin: string, digest: string, what: string): ReturnType<typeof parseDigest> {
  try {
    return parseDigest(digest);
  } catch {
    throw new UpstreamError(origin, 'invalid', `upstream ${origin} named an unusable digest for ${what}`);
  }
}
