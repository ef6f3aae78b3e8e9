/**
 * One proxy's cache: what to do for each kind of read, given the request's repository in Berth
 * (`local`) and at the upstream (`upstream`). Knows the registry layer and the upstream client,
 * nothing of HTTP (src/proxy/middleware.ts answers the requests).
 *
 * - A manifest by digest: stored here -> served (content-addressed: never asked again); else
 *   fetched, verified and stored, once however many ask at the same time.
 * - A manifest by tag: trusted for `tagTtl` after the upstream last confirmed it; then one HEAD
 *   asks for the tag's digest (free of Docker Hub's pull limit): the same -> served; another
 *   already stored -> the tag moves; another not stored -> fetched. The upstream unreachable,
 *   slow, refusing or broken -> the cached digest is served (stale-if-error) and logged; for a
 *   while after such a failure (the breaker: 30 s, or the upstream's Retry-After) tags are served
 *   without asking at all, so a dead upstream does not add its timeout to every pull. The upstream
 *   answering 404 -> 404 (a tag deleted there is gone here too, though its content stays until
 *   eviction). Nothing cached -> the client gets the upstream's answer (upstream-errors.ts).
 * - A blob linked here -> served. Stored here for another repository -> linked once the upstream
 *   confirms (HEAD) it has it in this repository too: a digest alone never opens another
 *   repository's blob. Else fetched once (blob-fill.ts) and streamed while it is stored.
 * - Tag lists and referrers come from the upstream when it answers, else from what is cached.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { isDigest, parseDigest } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { isValidName, isValidTag } from '../registry/names.js';
import type { ChangeOrigin } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';
import { LruCache, SingleFlight } from '../util/index.js';
import type { BlobFill, BlobFills, FillSource, RunningFill } from './blob-fill.js';
import { type ProxySettings, proxyLabel } from './config.js';
import type { CacheMarkers, PullTimes } from './state.js';
import { UpstreamClient, type UpstreamReferrers, type UpstreamTags } from './upstream.js';
import { UpstreamError, bodyError, clientError } from './upstream-errors.js';

/** A repository as Berth and as the upstream name it. */
export interface ProxyTarget {
  local: string;
  upstream: string;
}

/** hit: served from storage; miss: fetched from upstream; stale: cached copy served because the upstream failed. */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'error';
export type CacheKind = 'manifest' | 'blob' | 'tags' | 'referrers';

/** Who counts what the caches do (src/metrics), without the proxy knowing who. */
export interface ProxyObserver {
  served(proxy: string, kind: CacheKind, result: CacheResult): void;
  upstreamError(proxy: string, reason: string): void;
  upstreamBytes(proxy: string, bytes: number): void;
}

export interface CacheDeps {
  registry: Registry;
  fills: BlobFills;
  pulls: PullTimes;
  markers: CacheMarkers;
  maxManifestSize: number;
  /** Read-only mode: cached content is served, nothing is fetched into storage. */
  readOnly: boolean;
  log: Logger;
  observer?: ProxyObserver;
}

/** What a blob read needs: storage has it now, or it arrives from a fill, or (HEAD) the upstream has it. */
export type BlobSource = { from: 'storage' } | { from: 'fill'; size?: number; body: Readable } | { from: 'upstream'; size?: number };

/** After a failure, the upstream is not asked to revalidate tags for this long (unless it said otherwise). */
const BREAKER_MS = 30_000;

export class ProxyCache {
  readonly upstream: UpstreamClient;
  readonly label: string;
  /** `local:tag` -> when the upstream last confirmed the tag's digest. */
  private readonly confirmed = new LruCache<string, number>(100_000);
  private readonly manifestFlights = new SingleFlight<CacheResult>();
  private downUntil = 0;
  private readonly log: Logger;

  constructor(
    readonly settings: ProxySettings,
    private readonly deps: CacheDeps,
  ) {
    this.label = proxyLabel(settings.prefix);
    this.upstream = new UpstreamClient({ url: settings.url, username: settings.username, password: settings.password, timeoutMs: settings.timeoutMs });
    this.log = deps.log.child({ proxy: this.label, upstream: settings.url });
  }

  async close(): Promise<void> {
    await this.upstream.close();
  }

  /** The repository in Berth and at the upstream for `rest`, the name after the prefix. */
  target(rest: string): ProxyTarget {
    const upstream = this.settings.library && !rest.includes('/') ? `library/${rest}` : rest;
    const local = this.settings.prefix === '' ? upstream : `${this.settings.prefix}/${upstream}`;
    if (!isValidName(local)) throw new RegistryError('NAME_INVALID', `invalid repository name: ${local.slice(0, 300)} is longer than 255 characters`, { detail: { name: local.slice(0, 300) } });
    return { local, upstream };
  }

  /** What Berth's clients are told when they try to write here. */
  get writeRefusal(): string {
    const where = this.settings.prefix === '' ? 'this repository' : `${this.settings.prefix}/`;
    return `${where} is a pull-through cache of ${this.settings.url}: pushes and deletes are refused; push to a repository outside it`;
  }

  /** Makes sure the manifest `reference` names is stored in `target.local` (fresh enough, for a tag). */
  async manifest(target: ProxyTarget, reference: string, origin: ChangeOrigin): Promise<CacheResult> {
    const { registry } = this.deps;
    if (this.deps.readOnly) return this.readOnlyHit(await registry.manifests.digestOf(target.local, reference), target, reference);
    if (isDigest(reference)) {
      parseDigest(reference);
      if (await registry.manifests.digestOf(target.local, reference)) return 'hit';
      return this.manifestFlights.run(`${target.local}@${reference}`, () => this.fetchManifest(target, reference, [], origin).then(() => 'miss'));
    }
    if (!isValidTag(reference)) return 'hit'; // the route answers: no such tag
    const key = `${target.local}:${reference}`;
    const cached = await registry.manifests.digestOf(target.local, reference);
    if (cached) {
      const confirmedAt = this.confirmed.get(key);
      if (confirmedAt !== undefined && Date.now() - confirmedAt < this.settings.tagTtlMs) return 'hit';
      if (Date.now() < this.downUntil) return this.stale(target, reference, cached, 'the upstream failed moments ago');
    }
    return this.manifestFlights.run(key, () => this.revalidate(target, reference, cached, origin));
  }

  private async revalidate(target: ProxyTarget, tag: string, cached: string | undefined, origin: ChangeOrigin): Promise<CacheResult> {
    const { registry } = this.deps;
    const key = `${target.local}:${tag}`;
    try {
      if (!cached) {
        await this.fetchManifest(target, tag, [tag], origin);
        this.confirmed.set(key, Date.now());
        return 'miss';
      }
      const head = await this.upstream.manifest(target.upstream, tag, 'HEAD', this.deps.maxManifestSize);
      let result: CacheResult = 'hit';
      if (head.digest !== cached) {
        const stored = head.digest ? await registry.manifests.digestOf(target.local, head.digest) : undefined;
        if (stored) {
          const manifest = await registry.manifests.get(target.local, stored);
          await registry.manifests.cache(target.local, stored, manifest.bytes, manifest.mediaType, [tag], origin);
        } else {
          // By digest when the upstream named one: the bytes are then checked against it.
          await this.fetchManifest(target, head.digest || tag, [tag], origin);
          result = 'miss';
        }
        this.log.info({ repository: target.local, tag, from: cached, to: head.digest || undefined }, 'proxy: tag moved upstream');
      }
      this.confirmed.set(key, Date.now());
      return result;
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      this.failed(err);
      if (err.notFound) {
        this.confirmed.delete(key);
        throw clientError(err, 'MANIFEST_UNKNOWN');
      }
      if (cached) return this.stale(target, tag, cached, err.message);
      throw clientError(err, 'MANIFEST_UNKNOWN');
    }
  }

  /** In read-only mode what is stored is served as it is, and nothing else. */
  private readOnlyHit(stored: string | undefined, target: ProxyTarget, reference: string): CacheResult {
    if (stored) return 'hit';
    throw new RegistryError('UNSUPPORTED', `registry is in read-only mode: ${target.local} ${reference.slice(0, 200)} is not cached, and nothing is fetched now`, { status: 405 });
  }

  private stale(target: ProxyTarget, tag: string, digest: string, why: string): CacheResult {
    this.log.warn({ repository: target.local, tag, digest, why }, 'proxy: upstream failed, serving the cached copy');
    return 'stale';
  }

  /** Notes an upstream failure: counted, and (unless it was a plain 404) the breaker opens. */
  private failed(err: UpstreamError): void {
    this.deps.observer?.upstreamError(this.label, err.reason);
    if (err.notFound) return;
    this.downUntil = Date.now() + (err.retryAfterMs ?? BREAKER_MS);
  }

  /** GETs a manifest from the upstream, verified, and stores it under `tags`. */
  private async fetchManifest(target: ProxyTarget, reference: string, tags: string[], origin: ChangeOrigin): Promise<void> {
    try {
      const got = await this.upstream.manifest(target.upstream, reference, 'GET', this.deps.maxManifestSize);
      await this.markCache(target);
      try {
        await this.deps.registry.manifests.cache(target.local, got.digest, got.bytes!, got.mediaType || undefined, tags, origin);
      } catch (err) {
        if (err instanceof RegistryError && (err.code === 'MANIFEST_INVALID' || err.code === 'DIGEST_INVALID')) {
          throw new UpstreamError(this.settings.url, 'invalid', `upstream ${this.settings.url} sent a manifest Berth cannot store: ${err.message}`);
        }
        throw err;
      }
    } catch (err) {
      // Digest-only fetches fail here; tag fetches are judged by revalidate (stale or not).
      if (err instanceof UpstreamError && isDigest(reference)) {
        this.failed(err);
        throw clientError(err, 'MANIFEST_UNKNOWN');
      }
      throw err;
    }
  }

  /** The proxy without prefix shares names with the team's repositories: it marks those it filled. */
  private async markCache(target: ProxyTarget): Promise<void> {
    if (this.settings.prefix === '') await this.deps.markers.mark(target.local, this.settings.url);
  }

  /**
   * Where a blob read is served from. `live`: the caller can take the bytes as they arrive (a
   * whole-blob GET); otherwise (a Range, a HEAD) it waits for storage, or, for a HEAD, learns
   * the size from the upstream without a download.
   */
  async blob(target: ProxyTarget, digest: string, mode: 'live' | 'stored' | 'head'): Promise<{ source: BlobSource; result: CacheResult }> {
    const { registry, fills } = this.deps;
    parseDigest(digest);
    if (await registry.blobs.has(target.local, digest)) return { source: { from: 'storage' }, result: 'hit' };
    if (this.deps.readOnly) return { source: { from: 'storage' }, result: this.readOnlyHit(undefined, target, digest) };
    if ((await registry.blobs.storedSize(digest)) !== undefined) {
      await this.confirmBlob(target, digest);
      await registry.mountFromAny(target.local, digest);
      return { source: { from: 'storage' }, result: 'hit' };
    }
    let starting = fills.get(digest);
    if (!starting) {
      if (mode === 'head') {
        const head = await this.upstreamCall(() => this.upstream.blob(target.upstream, digest, 'HEAD'), 'BLOB_UNKNOWN');
        return { source: { from: 'upstream', size: head.size }, result: 'miss' };
      }
      starting = this.startFill(target, digest);
    }
    const running = await starting;
    // A fill for another repository: this one may have the blob only if its upstream has it too.
    if (running.repository !== target.local) await this.confirmBlob(target, digest);
    if (mode === 'head') return { source: { from: 'upstream', size: running.fill.size }, result: 'miss' };
    return { source: await this.join(running.fill, target, digest, mode === 'live'), result: 'miss' };
  }

  private async join(fill: BlobFill, target: ProxyTarget, digest: string, live: boolean): Promise<BlobSource> {
    const linkHere = async (): Promise<void> => {
      if (!(await this.deps.registry.blobs.isLinked(target.local, digest))) await this.deps.registry.mountFromAny(target.local, digest);
    };
    if (live && fill.readableFromStart) {
      fill.done.then(linkHere).catch(() => {});
      return { from: 'fill', size: fill.size, body: fill.reader() };
    }
    await fill.done;
    await linkHere();
    return { from: 'storage' };
  }

  private startFill(target: ProxyTarget, digest: string): Promise<RunningFill> {
    const { registry, fills, observer } = this.deps;
    const what = `blob ${target.upstream}@${digest}`;
    const open = async (): Promise<FillSource> => {
      const got = await this.upstreamCall(() => this.upstream.blob(target.upstream, digest, 'GET'), 'BLOB_UNKNOWN');
      await this.markCache(target);
      return { size: got.size, body: got.body! };
    };
    const starting = fills.start(digest, target.local, open, {
      store: (source) => registry.uploads.putWhole(target.local, digest, source, {}),
      readStored: (offset) => registry.blobs.read(digest, offset),
      bodyFailed: (err) => bodyError(this.settings.url, err, what),
      storeFailed: (err) =>
        err instanceof RegistryError && err.code === 'DIGEST_INVALID'
          ? new UpstreamError(this.settings.url, 'digest_mismatch', `upstream ${this.settings.url} sent ${what} whose bytes do not match its digest`)
          : (err as Error),
      onBytes: (bytes) => observer?.upstreamBytes(this.label, bytes),
    });
    starting
      .then(({ fill }) => fill.done)
      .catch((err: unknown) => {
        if (err instanceof RegistryError) return; // the upstream's answer, already counted and told to the client
        if (err instanceof UpstreamError) this.failed(err);
        this.log.warn({ repository: target.local, digest, err: { message: (err as Error).message } }, 'proxy: blob download failed; nothing was stored');
      });
    return starting;
  }

  /** The upstream has the blob in this repository (HEAD), or the cold-miss error. */
  private async confirmBlob(target: ProxyTarget, digest: string): Promise<void> {
    await this.upstreamCall(() => this.upstream.blob(target.upstream, digest, 'HEAD'), 'BLOB_UNKNOWN');
  }

  private async upstreamCall<T>(call: () => Promise<T>, unknownCode: 'BLOB_UNKNOWN' | 'NAME_UNKNOWN'): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      this.failed(err);
      throw clientError(err, unknownCode);
    }
  }

  /** The upstream's page of tags; undefined when the cached tags must do (the upstream failed). */
  async tags(target: ProxyTarget, page: { n?: string; last?: string }): Promise<{ tags?: UpstreamTags; result: CacheResult }> {
    const cachedRepository = (): Promise<boolean> => this.deps.registry.hasRepository(target.local);
    if (Date.now() < this.downUntil && (await cachedRepository())) return { result: 'stale' };
    try {
      return { tags: await this.upstream.tags(target.upstream, page), result: 'miss' };
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      this.failed(err);
      if (!err.notFound && (await cachedRepository())) {
        this.log.warn({ repository: target.local, why: err.message }, 'proxy: upstream failed, serving the cached tags');
        return { result: 'stale' };
      }
      throw clientError(err, 'NAME_UNKNOWN');
    }
  }

  /** The upstream's referrers of `digest`; undefined when the cached ones must do. */
  async referrers(target: ProxyTarget, digest: string, artifactType: string | undefined): Promise<{ referrers?: UpstreamReferrers; result: CacheResult }> {
    parseDigest(digest);
    if (Date.now() < this.downUntil) return { result: 'stale' };
    try {
      const referrers = await this.upstream.referrers(target.upstream, digest, artifactType);
      return referrers ? { referrers, result: 'miss' } : { result: 'hit' };
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      this.failed(err);
      this.log.warn({ repository: target.local, digest, why: err.message }, 'proxy: upstream failed, serving the cached referrers');
      return { result: 'stale' };
    }
  }
}
