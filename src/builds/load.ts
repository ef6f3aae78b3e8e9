/**
 * The builds module as the app loads it: at once when builds are configured (a repository is
 * linked, so the queue must run), and otherwise only when its routes are first asked for. Builds
 * bring the webhook, queue, GitHub client and both builders: several MiB of code a registry
 * without builds never needs in memory. Unconfigured, the queue never starts (nothing can be
 * queued without a linked repository); the build API still answers for records in storage.
 */
import type { Middleware } from 'koa';
import type { AppState } from '../http/index.js';
import type { Config } from '../config.js';
import type { BuildsDeps, BuildsModule } from './index.js';

function isBuildsPath(path: string): boolean {
  return path === '/webhooks/github' || path === '/api/builds' || path.startsWith('/api/builds/');
}

export async function loadBuilds(config: Config, deps: BuildsDeps): Promise<BuildsModule> {
  if (config.builds.repositories.length > 0) return (await import('./index.js')).createBuilds(config, deps);

  let loaded: Promise<Middleware<AppState>> | undefined;
  return {
    middleware: async (ctx, next) => {
      if (!isBuildsPath(ctx.path)) return next();
      loaded ??= import('./index.js').then(({ createBuilds }) => createBuilds(config, deps).middleware);
      return (await loaded)(ctx, next);
    },
    start: async () => {},
    stop: async () => {},
    queuedCount: async () => 0,
  };
}
