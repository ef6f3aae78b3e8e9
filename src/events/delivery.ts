/**
 * Delivery to one endpoint, by the one replica holding its lease (lease.ts): the endpoint's
 * queue, oldest first, one event at a time; an event leaves the queue only once the endpoint
 * answered 2xx. A failure stops the round and waits (backoff, doubling per failure in a row up to
 * the cap); the wait and the count are kept in storage, so a restart or another replica picks up
 * where it was. A queue longer than the backlog loses its oldest events, with a log line.
 *
 * The replica wakes on its own writes at once (kick), and looks for what other replicas and
 * commands wrote every `pollMs`.
 */
import type { Logger } from 'pino';
import type { EndpointConfig } from './config.js';
import type { Lease } from './lease.js';
import { send, type Sender } from './sender.js';
import { type DeliveryState, type EventStore, inBatches } from './store.js';

export interface DeliveryOptions {
  backlog: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  pollMs: number;
  leaseMs: number;
}

export interface DeliveryStats {
  delivered: number;
  failed: number;
  dropped: number;
}

export function backoffMs(failures: number, options: Pick<DeliveryOptions, 'backoffInitialMs' | 'backoffMaxMs'>): number {
  return Math.min(options.backoffMaxMs, options.backoffInitialMs * 2 ** Math.min(failures - 1, 40));
}

export class Deliverer {
  readonly stats: DeliveryStats = { delivered: 0, failed: 0, dropped: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private kicked = false;
  private state: DeliveryState | undefined;
  private renewing: Promise<unknown> = Promise.resolve();
  private renewTimer: NodeJS.Timeout | undefined;
  private stopping = new AbortController();

  constructor(
    private readonly endpoint: EndpointConfig,
    private readonly store: EventStore,
    private readonly lease: Lease,
    private readonly options: DeliveryOptions,
    private readonly log: Logger,
    private readonly sender: Sender = send,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = new AbortController();
    this.renewTimer = setInterval(() => {
      this.renewing = this.renewing
        .then(async () => {
          if (this.lease.held && !(await this.lease.renew())) this.lost();
        })
        .catch((err: unknown) => this.log.warn({ err, endpoint: this.endpoint.name }, 'could not renew the delivery lease'));
    }, Math.max(200, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
    this.loop = this.run();
  }

  /** Something was queued here: look now (unless waiting out a backoff). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Stops delivering (a delivery under way is abandoned: its event stays queued) and releases the lease. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.renewTimer);
    this.stopping.abort();
    this.wake?.();
    await this.loop;
    await this.renewing;
    await this.lease.release().catch((err: unknown) => this.log.warn({ err, endpoint: this.endpoint.name }, 'could not release the delivery lease'));
  }

  private lost(): void {
    this.state = undefined;
    this.log.warn({ endpoint: this.endpoint.name }, 'another replica took over delivery to this endpoint');
  }

  private async run(): Promise<void> {
    while (this.running) {
      let waitMs: number;
      try {
        waitMs = await this.step();
      } catch (err) {
        this.log.warn({ err, endpoint: this.endpoint.name }, 'event delivery round failed');
        waitMs = this.options.pollMs;
      }
      await this.sleep(waitMs);
    }
  }

  /** Whether a kick should end a wait: this replica delivers here and is not waiting out a backoff. */
  private kickMatters(): boolean {
    return this.lease.held && (this.state?.nextAttemptAt ?? 0) <= Date.now();
  }

  /** Resolves after `ms`, or earlier on a kick that matters, or on a stop. */
  private sleep(ms: number): Promise<void> {
    if (!this.running || ms <= 0) return Promise.resolve();
    if (this.kicked && this.kickMatters()) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = () => {
        if (!this.running || this.kickMatters()) {
          this.kicked = false;
          done();
        }
      };
    });
  }

  /** One round; returns how long to wait before the next. */
  private async step(): Promise<number> {
    const name = this.endpoint.name;
    if (!this.lease.held) {
      this.state = undefined;
      if (!(await this.lease.acquire())) return Math.max(200, Math.floor(this.options.leaseMs / 3));
      this.log.info({ endpoint: name, replica: this.lease.owner }, 'delivering events to this endpoint from this replica');
    }
    this.state ??= await this.store.readState(name);
    const state = this.state;
    const wait = state.nextAttemptAt - Date.now();
    if (wait > 0) return wait;
    this.kicked = false;

    let ids = await this.store.pending(name);
    if (ids.length > this.options.backlog) ids = await this.drop(ids);
    if (ids.length === 0) return this.options.pollMs;
    for (const id of ids) {
      if (!this.running) return 0;
      if (!(await this.lease.check())) {
        this.lost();
        return 0;
      }
      const event = await this.store.readPending(name, id);
      if (!event) continue; // dropped or delivered meanwhile
      const outcome = await this.sender(this.endpoint, event, this.stopping.signal);
      if (!outcome.ok && outcome.status === undefined && this.stopping.signal.aborted) return 0; // cut off by stop(): not the endpoint's fault
      if (outcome.ok) {
        await this.store.removePending(name, id);
        this.stats.delivered += 1;
        if (state.failures > 0) {
          this.log.info({ endpoint: name, failures: state.failures }, 'endpoint answers again');
          Object.assign(state, { failures: 0, nextAttemptAt: 0 });
          delete state.lastError;
          delete state.lastStatus;
          await this.store.writeState(name, state);
        }
        continue;
      }
      this.stats.failed += 1;
      state.failures += 1;
      const retryInMs = backoffMs(state.failures, this.options);
      state.nextAttemptAt = Date.now() + retryInMs;
      state.lastAttemptAt = new Date().toISOString();
      state.lastError = outcome.error ?? 'failed';
      if (outcome.status !== undefined) state.lastStatus = outcome.status;
      else delete state.lastStatus;
      this.log.warn(
        { endpoint: name, event: id, status: outcome.status, error: outcome.error, failures: state.failures, retryInMs, waiting: ids.length },
        'event delivery failed: retrying later',
      );
      await this.store.writeState(name, state);
      return retryInMs;
    }
    return 0; // look again at once: more may have come meanwhile
  }

  /** Drops the oldest events past the backlog; returns the ids left. */
  private async drop(ids: string[]): Promise<string[]> {
    const excess = ids.length - this.options.backlog;
    const dropped = ids.slice(0, excess);
    await inBatches(dropped, (id) => this.store.removePending(this.endpoint.name, id));
    this.stats.dropped += excess;
    this.log.warn(
      { endpoint: this.endpoint.name, dropped: excess, oldest: dropped[0], newest: dropped[dropped.length - 1], backlog: this.options.backlog },
      'event backlog full (notifications.backlog): the oldest events were dropped for this endpoint; the journal still has them',
    );
    return ids.slice(excess);
  }
}
