/** What the registry API's route modules are given, and the repository name every route checks. */
import type { Config } from '../config.js';
import { type HttpContext, routeRepositoryName } from '../http/index.js';
import type { Registry } from '../registry/registry.js';

export interface ApiDeps {
  registry: Registry;
  config: Config;
}

/** The repository name from the route, checked against the grammar. */
export function repositoryName(ctx: HttpContext): string {
  return routeRepositoryName(ctx);
}
