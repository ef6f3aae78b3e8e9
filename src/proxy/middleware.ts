/**
 * The proxies in the request path: a Koa middleware after auth, before the registry API's routes.
 *
 *   /v2/<name>/manifests/<ref>   GET, HEAD   the cache makes sure it is stored, then the manifests
 *                                            route serves it from storage (Accept, ETag, HEAD)
 *   /v2/<name>/blobs/<digest>    GET, HEAD   stored -> the blobs route; cold -> streamed from the
 *                                            fill (a whole GET), or the upstream's size (HEAD)
 *   /v2/<name>/tags/list         GET         the upstream's list (under Berth's name), else the cached tags
 *   /v2/<name>/referrers/<d>     GET         the upstream's referrers, else the cached ones
 *   any other method                         403 DENIED naming the upstream, before auth is asked
 *   /v2/_catalog                              not here: it lists what is stored, cached content included
 *
 * A name the upstream spells otherwise (`hub/alpine` is `hub/library/alpine`) is rewritten in the
 * request's path, so the routes, auth and logs see the stored name. Pull rights are checked here
 * before the upstream is asked anything. Every manifest answer notes the pull time (state.ts),
 * for eviction.
 */
import type { Middleware } from 'koa';
import { type AppState, type HttpContext, changeOrigin, etag, mediaTypeQueryValue, queryValue, respondJson } from '../http/index.js';
import { RegistryError } from '../registry/errors.js';
import { MediaType } from '../registry/manifest.js';
import { isValidHostname, isValidName } from '../registry/names.js';
import type { ChangeOrigin } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';
import type { CacheKind, CacheResult, ProxyObserver } from './cache.js';
import type { Routed, ProxyRouter } from './routing.js';
import type { CacheMarkers, PullTimes } from './state.js';

type Kind = 'manifests' | 'blobs' | 'tags' | 'referrers' | 'uploads';

interface ApiPath {
  name: string;
  kind: Kind;
  /** The tag or digest (manifests, blobs, referrers). */
  reference?: string;
  /** Everything after the name, from its `/`. */
  rest: string;
}

const MAX_PATH = 1024;

/** `/v2/<name>/<kind>/...` split as the API routes split it; undefined for other paths. */
export function parseApiPath(path: string): ApiPath | undefined {
  if (!path.startsWith('/v2/') || path.length > MAX_PATH) return undefined;
  const body = path.slice(4);
  const at = (marker: string): number => body.lastIndexOf(marker);
  const uploads = at('/blobs/uploads');
  if (uploads > 0) {
    const tail = body.slice(uploads + '/blobs/uploads'.length);
    if (tail === '' || tail === '/' || (tail.startsWith('/') && !tail.slice(1).includes('/'))) return { name: body.slice(0, uploads), kind: 'uploads', rest: body.slice(uploads) };
  }
  if (body.endsWith('/tags/list')) return { name: body.slice(0, -'/tags/list'.length), kind: 'tags', rest: '/tags/list' };
  for (const kind of ['manifests', 'blobs', 'referrers'] as const) {
    const index = at(`/${kind}/`);
    if (index <= 0) continue;
    const reference = body.slice(index + kind.length + 2);
    if (reference !== '' && !reference.includes('/')) return { name: body.slice(0, index), kind, reference, rest: body.slice(index) };
  }
  return undefined;
}

export interface MiddlewareDeps {
  router: ProxyRouter;
  registry: Registry;
  markers: CacheMarkers;
  pulls: PullTimes;
  namespaces: boolean;
  observer?: ProxyObserver;
}

const READS = new Set(['GET', 'HEAD']);

export function proxyMiddleware(deps: MiddlewareDeps): Middleware<AppState> {
  const { router, registry, markers, pulls, observer } = deps;

  const count = (routed: Routed, kind: CacheKind, result: CacheResult): void => observer?.served(routed.cache.label, kind, result);

  /** The proxy without prefix yields to the team's own repositories: those it did not fill. */
  const isLocal = async (routed: Routed): Promise<boolean> =>
    routed.cache.settings.prefix === '' && !(await markers.isCache(routed.local)) && (await registry.hasRepository(routed.local));

  return async (koaCtx, next) => {
    const path = parseApiPath(koaCtx.path);
    if (!path) return next();
    const ctx = koaCtx as unknown as HttpContext;
    const ns = deps.namespaces ? queryValue(ctx, 'ns') : undefined;
    let routed: Routed | undefined;
    if (ns !== undefined && isValidHostname(ns) && isValidName(path.name)) {
      routed = router.routeNamespace(path.name, ns);
    } else {
      routed = isValidName(path.name) ? router.route(path.name) : undefined;
      if (routed && ns === undefined && (await isLocal(routed))) routed = undefined;
    }
    if (!routed) return next();

    if (!READS.has(ctx.method)) {
      if (routed.cache.settings.prefix === '' && ns === undefined && !(await markers.isCache(routed.local))) return next();
      throw new RegistryError('DENIED', routed.cache.writeRefusal, { detail: { repository: routed.local, upstream: routed.cache.settings.url } });
    }
    if (routed.local !== path.name) ctx.path = `/v2/${routed.local}${path.rest}`;
    if (path.kind === 'uploads') return next();
    await ctx.state.permissions.require(routed.local, ['pull']);

    try {
      switch (path.kind) {
        case 'manifests':
          return await serveManifest(ctx, routed, path.reference!, next);
        case 'blobs':
          return await serveBlob(ctx, routed, path.reference!, next);
        case 'tags':
          return await serveTags(ctx, routed, next);
        case 'referrers':
          return await serveReferrers(ctx, routed, path.reference!, next);
      }
    } catch (err) {
      if (err instanceof RegistryError) count(routed, kindOf(path.kind), 'error');
      throw err;
    }
  };

  async function serveManifest(ctx: HttpContext, routed: Routed, reference: string, next: () => Promise<unknown>): Promise<void> {
    const result = await routed.cache.manifest(routed, reference, proxyOrigin(ctx));
    count(routed, 'manifest', result);
    await next();
    const digest = ctx.response.get('Docker-Content-Digest');
    if (ctx.status === 200 && digest) pulls.touch(routed.local, digest);
  }

  async function serveBlob(ctx: HttpContext, routed: Routed, digest: string, next: () => Promise<unknown>): Promise<void> {
    const mode = ctx.method === 'HEAD' ? 'head' : ctx.get('Range') ? 'stored' : 'live';
    const { source, result } = await routed.cache.blob(routed, digest, mode);
    count(routed, 'blob', result);
    if (source.from === 'storage') {
      await next();
      return;
    }
    ctx.status = 200;
    ctx.set('Docker-Content-Digest', digest);
    ctx.set('ETag', etag(digest));
    ctx.set('Cache-Control', 'max-age=31536000');
    ctx.type = 'application/octet-stream';
    if (source.size !== undefined) ctx.length = source.size;
    if (source.from === 'fill') ctx.body = source.body;
  }

  async function serveTags(ctx: HttpContext, routed: Routed, next: () => Promise<unknown>): Promise<void> {
    const n = queryValue(ctx, 'n');
    const last = queryValue(ctx, 'last');
    // Malformed paging is the tags route's to refuse, with its own error.
    if ((n !== undefined && !/^\d{1,9}$/.test(n)) || (last !== undefined && last.length > 256)) return void (await next());
    const { tags, result } = await routed.cache.tags(routed, { n, last });
    count(routed, 'tags', result);
    if (!tags) return void (await next());
    if (tags.next?.last !== undefined) {
      const query = new URLSearchParams({ ...(tags.next.n ? { n: tags.next.n } : {}), last: tags.next.last });
      ctx.set('Link', `</v2/${routed.local}/tags/list?${query}>; rel="next"`);
    }
    respondJson(ctx, { name: routed.local, tags: tags.tags });
  }

  async function serveReferrers(ctx: HttpContext, routed: Routed, digest: string, next: () => Promise<unknown>): Promise<void> {
    const artifactType = mediaTypeQueryValue(ctx, 'artifactType');
    const { referrers, result } = await routed.cache.referrers(routed, digest, artifactType);
    count(routed, 'referrers', result);
    if (!referrers) return void (await next());
    const manifests = referrers.index.manifests.filter(
      (d): d is Record<string, unknown> =>
        typeof d === 'object' && d !== null && typeof (d as Record<string, unknown>).digest === 'string' && typeof (d as Record<string, unknown>).mediaType === 'string',
    );
    const wanted = artifactType === undefined || referrers.filtered ? manifests : manifests.filter((d) => d.artifactType === artifactType);
    if (artifactType !== undefined) ctx.set('OCI-Filters-Applied', 'artifactType');
    respondJson(ctx, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: wanted }, MediaType.OciIndex);
  }
}

function kindOf(kind: Kind): CacheKind {
  return kind === 'manifests' ? 'manifest' : kind === 'blobs' ? 'blob' : kind === 'tags' ? 'tags' : 'referrers';
}

/** Cached content is written by `proxy`, on behalf of the request that asked for it. */
function proxyOrigin(ctx: HttpContext): ChangeOrigin {
  return { ...changeOrigin(ctx), actor: { name: 'proxy' } };
}
