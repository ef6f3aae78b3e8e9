/**
 * Automated builds as the app sees it: the webhook and build API routes, and a queue that runs
 * while the server does.
 */
import Router from '@koa/router';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../api/http.js';
import type { AuthModule } from '../auth/index.js';
import type { Config } from '../config.js';
import type { Registry } from '../registry/registry.js';

export interface BuildsModule {
  /** `/webhooks/github` and `/api/builds...`. */
  router: Router<AppState>;
  /** Starts the queue once the server listens at `registryUrl` (builders push there). */
  start(registryUrl: string): Promise<void>;
  /** Stops taking builds; a running build is marked as the issue asks (never lost). */
  stop(): Promise<void>;
}

export interface BuildsDeps {
  registry: Registry;
  driver: StorageDriver;
  auth: AuthModule;
  log: Logger;
}

export function createBuilds(_config: Config, _deps: BuildsDeps): BuildsModule {
  return {
    router: new Router<AppState>(),
    async start() {},
    async stop() {},
  };
}
