/** Blobs: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`. */
import { Readable } from 'node:stream';
import { parseDigest } from '../registry/digest.js';
import { type ApiDeps, repositoryName } from './deps.js';
import { type HttpRouter, changeOrigin, etag, notModified, respondEmpty } from '../http/index.js';
import { parseRangeHeader } from './range.js';

/** The first `length` bytes of `source`; the source is destroyed once they are through. */
function limited(source: Readable, length: number): Readable {
  async function* take() {
    let left = length;
    try {
      for await (const chunk of source) {
        const buffer = chunk as Buffer;
        if (buffer.length >= left) {
          yield buffer.subarray(0, left);
          return;
        }
        left -= buffer.length;
        yield buffer;
      }
    } finally {
      source.destroy();
    }
  }
  return Readable.from(take(), { objectMode: false });
}

export function registerBlobRoutes(router: HttpRouter, { registry }: ApiDeps): void {
  router.get('/v2/*name/blobs/:digest', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['pull']);
    const digest = ctx.params.digest!;
    parseDigest(digest);
    const blob = await registry.blobs.stat(name, digest);
    ctx.set('Docker-Content-Digest', digest);
    ctx.set('ETag', etag(digest));
    ctx.set('Accept-Ranges', 'bytes');
    ctx.set('Cache-Control', 'max-age=31536000');
    if (notModified(ctx, digest)) return;

    const range = parseRangeHeader(ctx.get('Range') || undefined, blob.size);
    if (range === 'unsatisfiable') {
      ctx.set('Content-Range', `bytes */${blob.size}`);
      respondEmpty(ctx, 416);
      return;
    }
    if (!range) {
      const redirect = await registry.blobs.redirectURL(digest, ctx.method === 'HEAD' ? 'HEAD' : 'GET');
      if (redirect) {
        ctx.status = 307; // keeps the method, unlike Koa's default 302
        ctx.redirect(redirect);
        return;
      }
    }
    ctx.type = 'application/octet-stream';
    ctx.status = range ? 206 : 200;
    if (range) ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
    const length = range ? range.end - range.start + 1 : blob.size;
    if (ctx.method === 'HEAD') {
      ctx.length = length;
      return;
    }
    const stream = await registry.blobs.read(digest, range?.start ?? 0);
    ctx.body = range && range.end < blob.size - 1 ? limited(stream, length) : stream;
    ctx.length = length;
  });

  router.delete('/v2/*name/blobs/:digest', async (ctx) => {
    const name = repositoryName(ctx);
    await ctx.state.permissions.require(name, ['delete']);
    await registry.blobs.unlink(name, ctx.params.digest!, changeOrigin(ctx));
    respondEmpty(ctx, 202);
  });
}
