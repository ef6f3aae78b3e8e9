/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic with `?digest=`, mount with
 * `?mount=&from=`), and `GET`/`PATCH`/`PUT`/`DELETE /v2/<name>/blobs/uploads/<uuid>`.
 */
import { parseDigest } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { checkName } from '../registry/names.js';
import { type UploadStatus, uploadRange } from '../registry/uploads.js';
import { type ApiDeps, repositoryName } from './deps.js';
import { type HttpContext, type HttpRouter, contentLength, hasBody, queryValue, respondEmpty } from '../http/index.js';
import { parseContentRange } from './range.js';

export function registerUploadRoutes(router: HttpRouter, { registry, config }: ApiDeps): void {
  const minChunkSize = registry.driver.minChunkSize ?? 0;

  function uploadAccepted(ctx: HttpContext, name: string, status: UploadStatus, httpStatus: number): void {
    ctx.set('Location', `/v2/${name}/blobs/uploads/${status.uuid}`);
    ctx.set('Range', uploadRange(status.size));
    ctx.set('Docker-Upload-UUID', status.uuid);
    if (minChunkSize > 0) ctx.set('OCI-Chunk-Min-Length', String(minChunkSize));
    respondEmpty(ctx, httpStatus);
  }

  function blobCreated(ctx: HttpContext, name: string, digest: string): void {
    ctx.set('Location', `/v2/${name}/blobs/${digest}`);
    ctx.set('Docker-Content-Digest', digest);
    respondEmpty(ctx, 201);
  }

  router.post(['/v2/*name/blobs/uploads/', '/v2/*name/blobs/uploads'], async (ctx) => {
    const name = repositoryName(ctx);
    const permissions = ctx.state.permissions;
    await permissions.require(name, ['push']);

    const mount = queryValue(ctx, 'mount');
    if (mount !== undefined) {
      parseDigest(mount);
      const from = queryValue(ctx, 'from');
      let mounted;
      if (from !== undefined) {
        // A source the caller may not pull is treated like one without the blob: a fresh upload.
        if ((await permissions.can(checkName(from), 'pull')) && from !== name) mounted = await registry.blobs.mount(name, mount, from);
      } else if (config.uploads.automaticMount) {
        mounted = await registry.mountFromAny(name, mount, permissions.readable());
      }
      if (mounted) return blobCreated(ctx, name, mounted.digest);
    }

    const digest = queryValue(ctx, 'digest');
    if (digest !== undefined) {
      const blob = await registry.uploads.putWhole(name, digest, ctx.req, { length: contentLength(ctx) });
      return blobCreated(ctx, name, blob.digest);
    }
    uploadAccepted(ctx, name, await registry.uploads.start(name), 202);
  });

  router.get('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['push']);
    uploadAccepted(ctx, name, await registry.uploads.status(name, ctx.params.uuid!), 204);
  });

  router.patch('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['push']);
    const range = parseContentRange(ctx.get('Content-Range') || undefined);
    const status = await registry.uploads.append(name, ctx.params.uuid!, ctx.req, { range, length: contentLength(ctx) });
    uploadAccepted(ctx, name, status, 202);
  });

  router.put('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['push']);
    const digest = queryValue(ctx, 'digest');
    if (digest === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to finish an upload');
    const range = parseContentRange(ctx.get('Content-Range') || undefined);
    const body = hasBody(ctx) ? ctx.req : undefined;
    const blob = await registry.uploads.complete(name, ctx.params.uuid!, digest, body, { range, length: contentLength(ctx) });
    blobCreated(ctx, name, blob.digest);
  });

  router.delete('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['push']);
    await registry.uploads.cancel(name, ctx.params.uuid!);
    respondEmpty(ctx, 204);
  });
}
