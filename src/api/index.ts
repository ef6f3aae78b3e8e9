/** The registry API's routes, one module per resource, and the middleware that marks `/v2` answers. */
import Router from '@koa/router';
import { registerBaseRoutes } from './base.js';
export { apiVersionHeader } from './base.js';
import { registerBlobRoutes } from './blobs.js';
import { registerCatalogRoutes } from './catalog.js';
import type { ApiDeps } from './deps.js';
import type { AppState } from '../http/index.js';
import { registerManifestRoutes } from './manifests.js';
import { registerReferrerRoutes } from './referrers.js';
import { registerTagRoutes } from './tags.js';
import { registerUploadRoutes } from './uploads.js';

export function createApiRouter(deps: ApiDeps): Router<AppState> {
  const router = new Router<AppState>();
  registerBaseRoutes(router);
  registerCatalogRoutes(router, deps);
  // Upload routes first: `/blobs/uploads/<uuid>` must not be read as a blob digest.
  registerUploadRoutes(router, deps);
  registerBlobRoutes(router, deps);
  registerManifestRoutes(router, deps);
  registerTagRoutes(router, deps);
  registerReferrerRoutes(router, deps);
  return router;
}
