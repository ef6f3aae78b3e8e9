/**
 * Scheduled garbage collection (`gc.schedule: 24h`): the same collection as `berth gc`, with the
 * `gc:` section's grace period, upload TTL and deleteUntagged, run inside the server.
 *
 * Time is cut into periods counted from the Unix epoch (24h: one per UTC day). In each period
 * every replica tries once to claim it in storage (`putContentIfAbsent` of
 * `/_berth/gc/claims/<period>-<index>`); the one that wins runs gc, the others do nothing until
 * the next period. A replica that starts mid-period tries at once (after a short pause), so a
 * period missed while every replica was down is made up. The report goes to the log, to the
 * metrics, and to `/_berth/gc/last.json`. In read-only mode nothing runs.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';
import type { GcConfig } from './config.js';
import type { Metrics } from './metrics/index.js';
import { collectGarbage, type GcReport } from './registry/gc.js';
import { parseDuration } from './util/index.js';

const CLAIMS = '/_berth/gc/claims';
const LAST_REPORT = '/_berth/gc/last.json';
/** Claims kept (the newest): older ones are deleted by the replica that just ran. */
const KEEP_CLAIMS = 10;
/** The first try after start waits this long (or the period, when shorter): let the server settle. */
const FIRST_TRY_MS = 30_000;

export interface GcScheduleDeps {
  driver: StorageDriver;
  log: Logger;
  metrics: Metrics;
  /** This replica's name in claims. */
  replica: string;
}

export class GcSchedule {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  readonly periodMs: number;

  constructor(
    private readonly config: GcConfig,
    private readonly deps: GcScheduleDeps,
  ) {
    this.periodMs = parseDuration(config.schedule) ?? 0;
  }

  start(): void {
    if (this.periodMs <= 0) return;
    this.deps.log.info({ every: this.config.schedule, grace: this.config.grace, deleteUntagged: this.config.deleteUntagged }, 'scheduled gc on');
    this.arm(Math.min(FIRST_TRY_MS, this.periodMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then(() => {}).finally(() => {
        this.running = undefined;
        // Wake at the start of the next period.
        this.arm(this.periodMs - (Date.now() % this.periodMs) + 10);
      });
    }, delayMs);
    this.timer.unref();
  }

  /** Claims the current period and runs gc if the claim is ours; what the run did, or undefined. */
  async tick(now = Date.now()): Promise<GcReport | undefined> {
    const index = Math.floor(now / this.periodMs);
    const claim = `${CLAIMS}/${this.periodMs}-${index}`;
    const { driver, log, metrics } = this.deps;
    let won: boolean;
    try {
      won = await driver.putContentIfAbsent(claim, Buffer.from(JSON.stringify({ replica: this.deps.replica, at: new Date(now).toISOString() })));
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'scheduled gc: could not claim this period (storage failed); trying next period');
      return undefined;
    }
    if (!won) {
      log.debug({ period: index }, 'scheduled gc: another replica has this period');
      return undefined;
    }
    const started = Date.now();
    try {
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
      log.info({ ...report, seconds }, 'scheduled gc finished');
      await driver.putContent(LAST_REPORT, Buffer.from(JSON.stringify({ replica: this.deps.replica, finishedAt: new Date().toISOString(), seconds, ...report })));
      await this.forgetOldClaims();
      return report;
    } catch (err) {
      metrics.gcRuns.inc({ result: 'failed' });
      log.error({ err }, 'scheduled gc failed; the next period tries again');
      return undefined;
    }
  }

  private async forgetOldClaims(): Promise<void> {
    const claims = await this.deps.driver.list(CLAIMS).catch(() => [] as string[]);
    const index = (path: string): number => Number(path.slice(path.lastIndexOf('-') + 1));
    const old = claims.sort((a, b) => index(b) - index(a)).slice(KEEP_CLAIMS);
    for (const path of old) await this.deps.driver.delete(path).catch(() => {});
  }
}
