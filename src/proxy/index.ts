/**
 * Pull-through cache (`proxies:`) and registry mirrors (`mirrors:`): Docker Hub, GHCR, Quay or any
 * registry pulled through Berth, stored in Berth, and served from storage when the upstream fails.
 * (Not to be confused with src/http/proxies.ts: the reverse proxies in front of Berth.)
 *
 *   client --GET /v2/hub/alpine/manifests/3.20--> auth --> middleware.ts
 *      routing.ts: hub/alpine -> Berth hub/library/alpine, upstream library/alpine (Docker Hub);
 *                  ?ns=docker.io (containerd) -> the proxy whose upstream is docker.io;
 *                  prefix "": names no other proxy claims and no team repository holds
 *      cache.ts:   manifests: by digest never asked again; by tag trusted for tagTtl, then one
 *                  HEAD; the upstream failing -> the cached copy (stale-if-error, logged)
 *                  blobs: fetched once (blob-fill.ts), streamed to every asker while being
 *                  verified into storage; twenty at once -> one upstream GET
 *                  tag lists, referrers: the upstream's, else the cached ones
 *      upstream.ts (undici) + upstream-auth.ts (token dance, Basic) + challenge.ts
 *   --> the registry API's own routes serve from storage (src/api), like any other repository.
 *
 *   writes into a proxied name            -> 403 DENIED naming the upstream (middleware.ts)
 *   cached content                        -> the normal layout under the stored name, so gc, the
 *                                            inventory, events (pushes by actor `proxy`) and the
 *                                            console see it; pull times in /_berth/proxy (state.ts)
 *   berth gc / scheduled gc               -> evict.ts: manifests not pulled for evictAfter go
 *   proxies[].sync                        -> sync.ts: copied in and refreshed every syncEvery
 *                                            (one replica per period), with copy.ts
 *   berth mirror SRC DEST                 -> mirror-cli.ts, with copy.ts and upstream.ts
 *
 * Fills are shared within a process; two processes (workers, replicas) asked for the same cold
 * blob at the same moment each fetch it once. Credentials for upstreams live in the config (or
 * a passwordFile) and go to the upstream and its token realm only: never to Berth's clients,
 * into a log line or an error message.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AppState } from '../http/index.js';
import type { Registry } from '../registry/registry.js';
import { BlobFills } from './blob-fill.js';
import { ProxyCache, type ProxyObserver } from './cache.js';
import { proxySettings } from './config.js';
import { proxyMiddleware } from './middleware.js';
import { ProxyRouter } from './routing.js';
import { CacheMarkers, PullTimes } from './state.js';
import { SyncSchedule } from './sync.js';

export { type ProxyObserver } from './cache.js';

export interface ProxyModule {
  middleware: Middleware<AppState>;
  caches: ProxyCache[];
  /** Starts the sync schedules (in one process of a cluster, as other background work). */
  start(replica: string): void;
  stop(): Promise<void>;
}

export interface ProxyDeps {
  registry: Registry;
  log: Logger;
  observer?: ProxyObserver;
}

/** The proxies of the config; undefined when there are none (then nothing is in the request path). */
export function createProxies(config: Config, deps: ProxyDeps): ProxyModule | undefined {
  if (config.proxies.length === 0) return undefined;
  const log = deps.log.child({ module: 'proxy' });
  const { registry } = deps;
  const shared = {
    registry,
    fills: new BlobFills(),
    pulls: new PullTimes(registry.driver, log),
    markers: new CacheMarkers(registry.driver),
    maxManifestSize: config.limits.maxManifestSize,
    readOnly: config.readOnly,
    log,
    observer: deps.observer,
  };
  const caches = config.proxies.map((proxy) => new ProxyCache(proxySettings(proxy), shared));
  const router = new ProxyRouter(caches);
  const schedules: SyncSchedule[] = [];
  for (const cache of caches) log.info({ prefix: cache.label, upstream: cache.settings.url, tagTtl: cache.settings.tagTtlMs / 1000, sync: cache.settings.sync.length || undefined }, 'pull-through cache on');
  return {
    caches,
    middleware: proxyMiddleware({ router, registry, markers: shared.markers, pulls: shared.pulls, namespaces: config.mirrors.namespaces, observer: deps.observer }),
    start(replica) {
      if (config.readOnly) return;
      for (const cache of caches) {
        if (cache.settings.sync.length === 0) continue;
        const schedule = new SyncSchedule(cache, { registry, pulls: shared.pulls, log, replica });
        schedule.start();
        schedules.push(schedule);
      }
    },
    async stop() {
      await Promise.all(schedules.map((s) => s.stop()));
      await Promise.all(caches.map((c) => c.close()));
      await shared.pulls.settled();
    },
  };
}
