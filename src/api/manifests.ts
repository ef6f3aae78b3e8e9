/** Manifests: `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`. */
import { RegistryError } from '../registry/errors.js';
import { manifestTooLarge } from '../registry/manifests.js';
import { type ApiDeps, repositoryName } from './deps.js';
import { type HttpContext, type HttpRouter, changeOrigin, queryValues, readSmallBody, etag, notModified, respondEmpty } from '../http/index.js';

/** Most tags one `PUT ...?tag=` may set; the spec asks for at least 10. */
const MAX_TAGS_PER_PUT = 50;

/** Whether the request's Accept headers allow `mediaType` (no Accept header allows anything). */
export function accepts(ctx: HttpContext, mediaType: string): boolean {
  const header = ctx.get('Accept');
  if (!header) return true;
  const types = header.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase()).filter(Boolean);
  if (types.length === 0) return true;
  return types.some((type) => type === mediaType || type === '*/*' || type === 'application/*');
}

export function registerManifestRoutes(router: HttpRouter, { registry, config, onPull }: ApiDeps): void {
  router.get('/v2/*name/manifests/:reference', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    const reference = ctx.params.reference!;
    const manifest = await registry.manifests.get(name, reference);
    if (!accepts(ctx, manifest.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest is a ${manifest.mediaType}, which the request's Accept header does not allow`, {
        detail: { reference, mediaType: manifest.mediaType },
      });
    }
    ctx.set('Docker-Content-Digest', manifest.digest);
    ctx.set('ETag', etag(manifest.digest));
    if (notModified(ctx, manifest.digest)) return;
    ctx.status = 200;
    ctx.set('Content-Type', manifest.mediaType);
    if (ctx.method === 'HEAD') {
      ctx.length = manifest.size;
      return;
    }
    if (onPull) await onPull(name, reference, manifest, changeOrigin(ctx));
    ctx.body = manifest.bytes;
  });

  router.put('/v2/*name/manifests/:reference', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['push']);
    const limit = config.limits.maxManifestSize;
    const tags = queryValues(ctx, 'tag');
    if (tags.length > MAX_TAGS_PER_PUT) {
      ctx.set('Connection', 'close');
      respondEmpty(ctx, 414);
      return;
    }
    const bytes = await readSmallBody(ctx, limit, () => manifestTooLarge(limit));
    const result = await registry.manifests.put(name, ctx.params.reference!, bytes, ctx.get('Content-Type') || undefined, tags, changeOrigin(ctx));
    ctx.set('Location', `/v2/${name}/manifests/${result.digest}`);
    ctx.set('Docker-Content-Digest', result.digest);
    if (result.subject) ctx.set('OCI-Subject', result.subject);
    if (tags.length > 0) ctx.set('OCI-Tag', result.tags);
    respondEmpty(ctx, 201);
  });

  router.delete('/v2/*name/manifests/:reference', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['delete']);
    await registry.manifests.delete(name, ctx.params.reference!, changeOrigin(ctx));
    respondEmpty(ctx, 202);
  });
}
