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
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../http/index.js';
import type { AuthModule } from '../auth/index.js';
import type { Config } from '../config.js';
import type { Registry } from '../registry/registry.js';
import { matchesAny } from '../util/index.js';
import { type BuildRecord, mountBuildsApi, runPipeline, BuildQueue, RecordStore, sweep } from './queue/index.js';
import { BUILD_USER, BuildahBuilder } from './buildah/index.js';
import { type BuilderSource, commandWorks } from './builders.js';
import { GitHubApi, StatusReporter, webhookHandler } from './github/index.js';
import { NativeBuilder } from './native/index.js';

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
  /** Told when a build is queued or ends, with its log's URL (src/events), before anyone hears of it. */
  onBuild?: (record: BuildRecord, logUrl: string) => Promise<void>;
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

  let buildah: BuildahBuilder | undefined;
  let native: NativeBuilder | undefined;
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
        credentials: async (target, bases) => {
          const ttl = settings.timeoutSeconds + 300;
          const push = await deps.auth.issueInternalToken(BUILD_USER, target, ['pull', 'push'], ttl);
          if (push === undefined) return undefined; // auth is off
          const tokens = new Map([[target, push]]);
          const patterns = settings.repositories.filter((r) => r.image === target).flatMap((r) => r.pull);
          for (const base of bases) {
            if (tokens.has(base) || !matchesAny(patterns, base)) continue;
            const token = await deps.auth.issueInternalToken(BUILD_USER, base, ['pull'], ttl);
            if (token !== undefined) tokens.set(base, token);
          }
          return tokens;
        },
      });
      return buildah;
    },
    native: async () => (native ??= new NativeBuilder({ registry: deps.registry, tempDir: settings.workDir })),
  };

  const statuses = new StatusReporter({ github: (repo) => (tokenOf(repo) ? github(repo) : undefined), publicUrl, log });
  const queue = new BuildQueue(
    store,
    (record, context) =>
      runPipeline(record, context, {
        config: settings,
        builders,
        github,
        authOn: config.auth.mode !== 'none',
        pullPatterns,
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
      statuses.report(record);
      await deps.onBuild?.(record, `${publicUrl()}/api/builds/${record.id}/logs`);
    },
  );

  const router = new Router<AppState>();
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
  mountBuildsApi(router, { config: settings, store, queue, github, registryHost, publicUrl });

  return {
    router,
    async start(url: string) {
      registryUrl = url;
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

