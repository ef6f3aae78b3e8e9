/** What the registry API's route modules are given, and the repository name every route checks. */
import type { Config } from '../config.js';
import { type HttpContext, routeRepositoryName } from '../http/index.js';
import type { ChangeOrigin } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';

/** Told of a manifest GET before it is answered (src/events). */
export type PullObserver = (repository: string, reference: string, manifest: { digest: string; mediaType: string; size: number }, origin: ChangeOrigin) => Promise<void>;

export interface ApiDeps {
  registry: Registry;
  config: Config;
  /** Undefined when nobody wants pulls: then a pull costs nothing more. */
  onPull?: PullObserver;
}

/** The repository name from the route, checked against the grammar. */
export function repositoryName(ctx: HttpContext): string {
  return routeRepositoryName(ctx);
}
