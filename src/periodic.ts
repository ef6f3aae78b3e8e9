/**
 * Work that one replica does once per period (scheduled gc, proxy syncs). Time is cut into
 * periods counted from the Unix epoch (24h: one per UTC day). In each period every replica tries
 * once to claim it in storage (`putContentIfAbsent` of `<folder>/<period ms>-<index>`); the one
 * that wins does the work, the others do nothing until the next period. A replica that starts
 * mid-period tries at once (after a short pause), so a period missed while every replica was
 * down is made up. Old claims are deleted by the replica that just ran.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage-drivers/driver.js';

/** Claims kept (the newest). */
const KEEP_CLAIMS = 10;

export class PeriodicClaims {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly driver: StorageDriver,
    private readonly folder: string,
    readonly periodMs: number,
    private readonly replica: string,
    private readonly log: Logger,
  ) {}

  /** Runs `work` at the first try (after `firstTryMs`, or the period when shorter), then each period. */
  start(firstTryMs: number, work: () => Promise<unknown>): void {
    if (this.periodMs <= 0) return;
    this.arm(Math.min(firstTryMs, this.periodMs), work);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private arm(delayMs: number, work: () => Promise<unknown>): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = work()
        .then(() => {})
        .finally(() => {
          this.running = undefined;
          // Wake at the start of the next period.
          this.arm(this.periodMs - (Date.now() % this.periodMs) + 10, work);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** The period `now` falls in. */
  period(now: number): number {
    return Math.floor(now / this.periodMs);
  }

  /** Claims the period of `now`; false when another replica has it or storage failed (logged). */
  async claim(now: number): Promise<boolean> {
    const index = this.period(now);
    try {
      return await this.driver.putContentIfAbsent(`${this.folder}/${this.periodMs}-${index}`, Buffer.from(JSON.stringify({ replica: this.replica, at: new Date(now).toISOString() })));
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not claim this period (storage failed); trying next period');
      return false;
    }
  }

  async forgetOldClaims(): Promise<void> {
    const claims = await this.driver.list(this.folder).catch(() => [] as string[]);
    const index = (path: string): number => Number(path.slice(path.lastIndexOf('-') + 1));
    const old = claims.sort((a, b) => index(b) - index(a)).slice(KEEP_CLAIMS);
    for (const path of old) await this.driver.delete(path).catch(() => {});
  }
}
