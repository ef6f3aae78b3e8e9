/**
 * Prometheus metrics (prom-client), in one registry per app:
 *
 *   http.ts     berth_http_requests_total{method,route,status}, berth_http_request_duration_seconds,
 *               berth_blob_bytes_total{direction="out"}, berth_uploads_in_progress (a middleware)
 *   storage.ts  berth_storage_operations_total{driver,operation,result} and their latency (a
 *               driver wrapper, like storage-drivers/base.ts)
 *   here        the rest, fed by the modules through small callbacks wired in src/app.ts:
 *               blob bytes in (the registry's uploads), logins (auth), builds and their queue,
 *               gc runs and bytes freed, event deliveries, the TLS certificate's expiry, the
 *               pull-through caches (hits, misses, stale serves, upstream errors and bytes); and
 *               Node's process metrics.
 *   listener.ts `/metrics` on a listener of its own (`metrics.listen`); else a route on the main one.
 *   cluster-worker.ts, cluster-primary.ts  with several workers (src/workers.ts), /metrics reports
 *               them all: the worker that gets the scrape gathers the others' registries through
 *               the primary and aggregates them.
 *
 * Labels are bounded: route patterns (never raw paths), methods, status codes, fixed result
 * words, names from the config (endpoints, proxy prefixes). No repository name, digest or user
 * ever becomes a label.
 *
 * Cluster mode (several worker processes): every metric says how the workers' values combine
 * (`aggregator`: sum unless it says otherwise), for prom-client's AggregatorRegistry; `render` is
 * the one place /metrics gets its text from, and cluster-worker.ts points it at the aggregate.
 */
import Router from '@koa/router';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppState } from '../http/index.js';
import type { ProxyObserver } from '../proxy/cache.js';
import { RegistryError } from '../registry/errors.js';
import { type Exposition, MetricsUnavailableError } from './exposition.js';

export type LoginResult = 'success' | 'failure' | 'throttled';
export type EventDeliveryResult = 'delivered' | 'failed' | 'dropped';

/** Seconds; from a cached manifest read to a long blob stream. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const STORAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time from a request arriving to its response ending, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  readonly blobBytes = new Counter({
    name: 'berth_blob_bytes_total',
    help: 'Blob bytes received by uploads (in) and sent by completed downloads (out)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  readonly uploadsInProgress = new Gauge({
    name: 'berth_uploads_in_progress',
    help: 'Blob upload requests (POST, PATCH, PUT) this process is receiving now',
    registers: [this.registry],
    aggregator: 'sum',
  });
  readonly storageOperations = new Counter({
    name: 'berth_storage_operations_total',
    help: 'Storage driver operations, by driver, operation and result (ok, not_found, error)',
    labelNames: ['driver', 'operation', 'result'] as const,
    registers: [this.registry],
  });
  readonly storageDuration = new Histogram({
    name: 'berth_storage_operation_duration_seconds',
    help: 'Storage driver operation latency (for reader and writer: until the stream is open)',
    labelNames: ['driver', 'operation'] as const,
    buckets: STORAGE_BUCKETS,
    registers: [this.registry],
  });
  readonly authLogins = new Counter({
    name: 'berth_auth_logins_total',
    help: 'Sign-ins with a password or robot token (token endpoint and HTTP Basic), by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly builds = new Counter({
    name: 'berth_builds_total',
    help: 'Builds this process finished, by result (succeeded, failed, cancelled)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly gcRuns = new Counter({
    name: 'berth_gc_runs_total',
    help: 'Scheduled garbage collections this process ran, by result (ok, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly gcBytesFreed = new Counter({
    name: 'berth_gc_bytes_freed_total',
    help: 'Blob bytes deleted by scheduled garbage collections',
    registers: [this.registry],
  });
  readonly gcDeleted = new Counter({
    name: 'berth_gc_deleted_total',
    help: 'Things deleted by scheduled garbage collections, by kind (manifest, layer-link, upload, blob)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly tlsExpiry = new Gauge({
    name: 'berth_tls_certificate_expiry_timestamp_seconds',
    help: 'When the certificate served on the main listener expires (Unix time)',
    registers: [this.registry],
    aggregator: 'min',
  });
  readonly proxyServed = new Counter({
    name: 'berth_proxy_requests_total',
    help: 'Pull-through cache reads, by proxy (its prefix; / for none), kind (manifest, blob, tags, referrers) and result (hit: from storage; miss: from the upstream; stale: cached copy served because the upstream failed; error: failed)',
    labelNames: ['proxy', 'kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly proxyUpstreamErrors = new Counter({
    name: 'berth_proxy_upstream_errors_total',
    help: 'Upstream failures of pull-through caches, by proxy and reason (unreachable, timeout, truncated, status_401/403/404/429/5xx/other, digest_mismatch, invalid)',
    labelNames: ['proxy', 'reason'] as const,
    registers: [this.registry],
  });
  readonly proxyUpstreamBytes = new Counter({
    name: 'berth_proxy_upstream_bytes_total',
    help: 'Blob bytes pull-through caches fetched from their upstreams, by proxy',
    labelNames: ['proxy'] as const,
    registers: [this.registry],
  });
  /** For src/proxy: what its caches did. */
  readonly proxyObserver: ProxyObserver = {
    served: (proxy, kind, result) => this.proxyServed.inc({ proxy, kind, result }),
    upstreamError: (proxy, reason) => this.proxyUpstreamErrors.inc({ proxy, reason }),
    upstreamBytes: (proxy, bytes) => this.proxyUpstreamBytes.inc({ proxy }, bytes),
  };
  private queueLength?: () => Promise<number>;
  private eventStats?: () => Record<string, Record<EventDeliveryResult, number>>;
  /** What eventDeliveries last counted, per endpoint and result: a scrape adds what came since. */
  private readonly countedEvents = new Map<string, number>();

  readonly eventDeliveries: Counter<'endpoint' | 'result'> = new Counter({
    name: 'berth_event_deliveries_total',
    help: 'Notifications this process sent, by endpoint (its configured name) and result (delivered, failed, dropped)',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
    collect: () => this.countEventDeliveries(),
  });

  readonly buildQueueLength: Gauge = new Gauge({
    name: 'berth_build_queue_length',
    help: 'Builds queued and not yet running (all replicas: read from storage at each scrape)',
    registers: [this.registry],
    // Every worker reads the same number from storage: a primary keeps one, not their sum.
    aggregator: 'max',
    collect: async () => this.buildQueueLength.set(await this.queuedBuilds()),
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where berth_event_deliveries_total comes from (the events module's running counts). */
  watchEventDeliveries(stats: () => Record<string, Record<EventDeliveryResult, number>>): void {
    this.eventStats = stats;
  }

  private countEventDeliveries(): void {
    for (const [endpoint, counts] of Object.entries(this.eventStats?.() ?? {})) {
      for (const result of ['delivered', 'failed', 'dropped'] as const) {
        const key = `${endpoint}\0${result}`;
        const added = counts[result] - (this.countedEvents.get(key) ?? 0);
        if (added > 0) this.eventDeliveries.inc({ endpoint, result }, added);
        this.countedEvents.set(key, counts[result]);
      }
    }
  }

  /** Where berth_build_queue_length comes from (the builds module). */
  watchBuildQueue(count: () => Promise<number>): void {
    this.queueLength = count;
  }

  private async queuedBuilds(): Promise<number> {
    if (!this.queueLength) return 0;
    // A scrape must not fail because storage does (that is what /readyz and the storage metrics say).
    return this.queueLength().catch(() => 0);
  }

  /**
   * The text /metrics serves. By default this process's registry; cluster mode points it at the
   * aggregate of every worker (cluster-worker.ts).
   */
  render: () => Promise<Exposition> = async () => ({ contentType: this.registry.contentType, body: await this.registry.metrics() });

  /** `GET /metrics` for the main listener. */
  router(): Router<AppState> {
    const router = new Router<AppState>();
    router.get('/metrics', async (ctx) => {
      const { contentType, body } = await this.render().catch((err: unknown) => {
        if (err instanceof MetricsUnavailableError) throw new RegistryError('UNAVAILABLE', `metrics could not be collected: ${err.message}`, { cause: err });
        throw err;
      });
      ctx.set('Cache-Control', 'no-store');
      ctx.type = contentType;
      ctx.body = body;
    });
    return router;
  }
}

export { httpMetrics } from './http.js';
export { MeteredDriver } from './storage.js';
export { startMetricsListener } from './listener.js';
