/** `GET /v2/<name>/referrers/<digest>`: the manifests whose subject is `digest`, as an image index. */
import { parseDigest } from '../registry/digest.js';
import { MediaType } from '../registry/manifest.js';
import { type ApiDeps, repositoryName } from './deps.js';
import { type HttpRouter, mediaTypeQueryValue, respondJson } from '../http/index.js';

export function registerReferrerRoutes(router: HttpRouter, { registry }: ApiDeps): void {
  router.get('/v2/*name/referrers/:digest', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    const subject = ctx.params.digest!;
    parseDigest(subject);
    const artifactType = mediaTypeQueryValue(ctx, 'artifactType');
    const manifests = await registry.manifests.referrers(name, subject, artifactType);
    if (artifactType !== undefined) ctx.set('OCI-Filters-Applied', 'artifactType');
    respondJson(ctx, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, MediaType.OciIndex);
  });
}
