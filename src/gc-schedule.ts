/**
 * Scheduled garbage collection (`gc.schedule: 24h`): the same collection as `berth gc`, with the
 * `gc:` section's grace period, upload TTL and deleteUntagged, run inside the server, by one
 * replica per period (src/periodic.ts: claims in `/_berth/gc/claims/<period>-<index>`). Before
 * it collects, cached manifests not pulled for their proxy's `evictAfter` are evicted
 * (src/proxy/evict.ts). The report goes to the log, to the metrics, and to `/_berth/gc/last.json`.
 * In read-only mode nothing runs.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import type { GcConfig } from './config.js';
import type { Metrics } from './metrics/index.js';
import { PeriodicClaims } from './periodic.js';
import { collectGarbage, type GcReport } from './registry/gc.js';
import { parseDuration } from './util/index.js';

const CLAIMS = '/_berth/gc/claims';
const LAST_REPORT = '/_berth/gc/last.json';
/** The first try after start waits this long (or the period, when shorter): let the server settle. */
const FIRST_TRY_MS = 30_000;

export interface GcScheduleDeps {
  driver: StorageDriver;
  log: Logger;
  metrics: Metrics;
  /** This replica's name in claims. */
  replica: string;
  /** Runs before each collection (proxy eviction); what it deleted is logged with the report. */
  evict?: () => Promise<{ manifests: number }>;
}

export class GcSchedule {
  private readonly claims: PeriodicClaims;

  constructor(
    private readonly config: GcConfig,
    private readonly deps: GcScheduleDeps,
  ) {
    this.claims = new PeriodicClaims(deps.driver, CLAIMS, parseDuration(config.schedule) ?? 0, deps.replica, deps.log);
  }

  get periodMs(): number {
    return this.claims.periodMs;
  }

  start(): void {
    if (this.periodMs <= 0) return;
    this.deps.log.info({ every: this.config.schedule, grace: this.config.grace, deleteUntagged: this.config.deleteUntagged }, 'scheduled gc on');
    this.claims.start(FIRST_TRY_MS, () => this.tick());
  }

  stop(): Promise<void> {
    return this.claims.stop();
  }

  /** Claims the current period and runs gc if the claim is ours; what the run did, or undefined. */
  async tick(now = Date.now()): Promise<GcReport | undefined> {
    const { driver, log, metrics } = this.deps;
    if (!(await this.claims.claim(now))) {
      log.debug({ period: this.claims.period(now) }, 'scheduled gc: another replica has this period (or storage failed)');
      return undefined;
    }
    const started = Date.now();
    try {
      const evicted = this.deps.evict ? (await this.deps.evict()).manifests : undefined;
      const report = await collectGarbage(driver, {
        dryRun: false,
        graceMs: parseDuration(this.config.grace) ?? 3_600_000,
        uploadTtlMs: parseDuration(this.config.uploadTtl) ?? 86_400_000,
        deleteUntagged: this.config.deleteUntagged,
        onItem: (item) => metrics.gcDeleted.inc({ kind: item.kind }),
      });
      metrics.gcRuns.inc({ result: 'ok' });
      metrics.gcBytesFreed.inc(report.bytesFreed);
      const seconds = (Date.now() - started) / 1000;
      log.info({ ...report, evicted, seconds }, 'scheduled gc finished');
      await driver.putContent(LAST_REPORT, Buffer.from(JSON.stringify({ replica: this.deps.replica, finishedAt: new Date().toISOString(), seconds, evicted, ...report })));
      await this.claims.forgetOldClaims();
      return report;
    } catch (err) {
      metrics.gcRuns.inc({ result: 'failed' });
      log.error({ err }, 'scheduled gc failed; the next period tries again');
      return undefined;
    }
  }
}
