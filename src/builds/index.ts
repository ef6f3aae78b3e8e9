/**
 * Automated builds as the app sees it: the webhook and build API routes, and a queue that runs
 * while the server does. Four rooms, each with an index.ts that draws its own flow:
 *
 *   GitHub push -> github/ (webhook, HMAC, rules -> build plans) -> queue/ (records in storage,
 *   one replica claims each build) -> queue/pipeline.ts (source tarball from github/, then
 *   builders.ts picks a builder: native/ (no engine) or buildah/ (RUN), both reading the
 *   Dockerfile through dockerfile/) -> image in Berth; github/status.ts reports to the commit.
 *
 * builder.ts is the contract between the queue and the builders; config.ts the `builds:` keys.
 */
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../http/index.js';
import type { AuthModule } from '../auth/index.js';
import type { Config } from '../config.js';
import type { ChangeObserver } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';
import { matchesAny } from '../util/index.js';
import { type BuildRecord, mountBuildsApi, runPipeline, BuildQueue, RecordStore, sweep } from './queue/index.js';
import { BuildahBuilder } from './buildah/index.js';
import { type BuilderSource, commandWorks } from './builders.js';
import { GitHubApi, StatusReporter, webhookHandler } from './github/index.js';
import { BUILD_USER, type Builder } from './builder.js';
import { NativeBuilder, ThreadedNativeBuilder } from './native/index.js';

export interface BuildsModule {
  /** Serves `/webhooks/github` and `/api/builds...` (405 for other methods there); passes the rest on. */
  middleware: Middleware<AppState>;
  /** Starts the queue once the server listens at `registryUrl` (builders push there). */
  start(registryUrl: string): Promise<void>;
  /** Stops taking builds; a running build is marked as the issue asks (never lost). */
  stop(): Promise<void>;
  /** Builds queued on every replica (metrics). */
  queuedCount(): Promise<number>;
}

export interface BuildsDeps {
  registry: Registry;
  driver: StorageDriver;
  /**
   * The storage a native build's own thread may open (the server's, from the config). Undefined
   * when a thread cannot share it (the memory driver, a driver handed in by a test): native builds
   * then run on the server's thread.
   */
  threadStorage?: Config['storage'];
  auth: AuthModule;
  log: Logger;
  /** Told when a build is queued or ends, with its log's URL (src/events), before anyone hears of it. */
  onBuild?: (record: BuildRecord, logUrl: string) => Promise<void>;
  /** The registry's observer, for the pushes a native build makes on its own thread (src/events). */
  observer?: ChangeObserver;
  /** Told of every build this replica finishes, with its final state (metrics). */
  onFinished?: (state: 'succeeded' | 'failed' | 'cancelled') => void;
}

const HEARTBEAT_MS = 5000;
const SWEEP_MS = 3600 * 1000;

/** `host:port` to reach a listen address locally (a wildcard address means this host). */
function localHost(url: string): string {
  const host = new URL(url).host;
  return host.replace(/^0\.0\.0\.0(?=:)/, '127.0.0.1').replace(/^\[::\](?=:)/, '[::1]');
}

export function createBuilds(config: Config, deps: BuildsDeps): BuildsModule {
  const settings = config.builds;
  const log = deps.log.child({ module: 'builds' });
  const store = new RecordStore(deps.driver, log);
  let registryUrl = `http://${config.listen}`;
  let sweeper: NodeJS.Timeout | undefined;

  const registryHost = (): string => settings.registryHost || localHost(registryUrl);
  const publicUrl = (): string => (settings.publicUrl || registryUrl).replace(/\/+$/, '');
  const tokenOf = (github: string): string => settings.repositories.find((r) => r.github.toLowerCase() === github.toLowerCase())?.token || settings.github.token;
  const github = (repository: string): GitHubApi => new GitHubApi(settings.github.api, tokenOf(repository));
  const pullPatterns = (github: string): string[] => settings.repositories.find((r) => r.github.toLowerCase() === github.toLowerCase())?.pull ?? [];
  /**
   * What a build may pull: its own image, what its linked repository lists under `pull`, and what
   * anyone may pull; for a build triggered by hand, only what its caller may pull of that too
   * (whoever may trigger a build gains no pull on anything through it).
   */
  const mayPull =
    (record: BuildRecord) =>
    async (repository: string): Promise<boolean> => {
      if (config.auth.mode === 'none') return true;
      const linked = matchesAny([record.image, ...pullPatterns(record.github)], repository) || (await deps.auth.mayPull(undefined, repository));
      if (!linked) return false;
      return record.trigger.kind !== 'manual' || (await deps.auth.mayPull(record.trigger.principal, repository));
    };

  let buildah: BuildahBuilder | undefined;
  let native: Builder | undefined;
  const builders: BuilderSource = {
    kind: settings.builder,
    buildahCommand: settings.buildah,
    buildah: async () => {
      if (!(await commandWorks(settings.buildah))) return undefined;
      buildah ??= new BuildahBuilder({
        command: settings.buildah,
        workDir: settings.workDir,
        registry: localHost(registryUrl),
        aliases: settings.registryHost ? [settings.registryHost] : [],
        // `bases` are the Berth images the build may pull (the builder asked mayPull).
        credentials: async (target, bases) => {
          const ttl = settings.timeoutSeconds + 300;
          const push = await deps.auth.issueInternalToken(BUILD_USER, target, ['pull', 'push'], ttl);
          if (push === undefined) return undefined; // auth is off
          const tokens = new Map([[target, push]]);
          for (const base of bases) {
            if (tokens.has(base)) continue;
            const token = await deps.auth.issueInternalToken(BUILD_USER, base, ['pull'], ttl);
            if (token !== undefined) tokens.set(base, token);
          }
          return tokens;
        },
      });
      return buildah;
    },
    native: async () =>
      (native ??= deps.threadStorage
        ? new ThreadedNativeBuilder({ storage: deps.threadStorage, limits: config.limits, tempDir: settings.workDir, logLevel: config.log.level, observer: deps.observer })
        : new NativeBuilder({ registry: deps.registry, tempDir: settings.workDir })),
  };

  // GitHub's "Details" link: the build's page in the console, or its plain log without one.
  const buildPage = (id: string): string => (config.console.enabled ? `${publicUrl()}/builds/${id}` : `${publicUrl()}/api/builds/${id}/logs`);
  const statuses = new StatusReporter({ github: (repo) => (tokenOf(repo) ? github(repo) : undefined), buildUrl: buildPage, log });
  const queue = new BuildQueue(
    store,
    (record, context) =>
      runPipeline(record, context, {
        config: settings,
        builders,
        github,
        mayPull,
      }),
    {
      concurrency: settings.concurrency,
      queueLimit: settings.queueLimit,
      timeoutMs: settings.timeoutSeconds * 1000,
      // Without linked repositories nothing new is queued: no need to keep asking storage.
      pollMs: settings.repositories.length > 0 ? settings.pollSeconds * 1000 : 0,
      heartbeatMs: HEARTBEAT_MS,
      staleMs: Math.max(30_000, HEARTBEAT_MS * 6),
      logMaxBytes: settings.logs.maxBytes,
    },
    log,
    async (record) => {
      if (record.state === 'succeeded' || record.state === 'failed' || record.state === 'cancelled') deps.onFinished?.(record.state);
      statuses.report(record);
      await deps.onBuild?.(record, `${publicUrl()}/api/builds/${record.id}/logs`);
    },
  );

  const router = new Router<AppState>();
  // With nothing linked there is no webhook: no route to send bodies to.
  if (settings.repositories.length > 0) {
    router.post(
      '/webhooks/github',
      webhookHandler({
        config: settings,
        store,
        enqueue: (plans) => queue.enqueue(plans),
        registryHost,
        buildUrl: (id) => `${publicUrl()}/api/builds/${id}`,
        log,
      }),
    );
  }
  mountBuildsApi(router, { config: settings, store, queue, github, registryHost, publicUrl });

  // As the app mounts a router: its routes, then 405 for a known path asked with another method.
  const routes = router.routes() as Middleware<AppState>;
  const allowed = router.allowedMethods({ throw: true }) as Middleware<AppState>;
  return {
    middleware: (ctx, next) => routes(ctx, () => allowed(ctx, next)),
    queuedCount: () => queue.queuedCount(),
    async start(url: string) {
      registryUrl = url;
      if (config.readOnly) {
        // Builds push: they wait in the queue until Berth serves writes again.
        log.info('read-only mode: builds are not run');
        return;
      }
      queue.start();
      const runSweep = (): void => void sweep(store, settings.retentionDays, log).catch((err: unknown) => log.warn({ err }, 'build retention sweep failed'));
      sweeper = setInterval(runSweep, SWEEP_MS);
      sweeper.unref();
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await queue.stop();
      // Statuses already on their way get a moment; GitHub being slow must not hold a shutdown.
      await Promise.race([statuses.settled(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    },
  };
}

