/**
 * The build queue, shared by every replica through storage. Each replica runs up to
 * `concurrency` builds; which replica runs an attempt is decided by a claim
 * (putContentIfAbsent), so exactly one does. The index of active builds (`active/`) is what a
 * replica scans: on every local enqueue and every `pollSeconds` for what other replicas queued.
 *
 * States: queued -> running -> succeeded | failed | cancelled; running -> queued again when the
 * replica shuts down (or stops beating: it died) while building, at most MAX_ATTEMPTS times, so a
 * build is never lost. The running replica writes a heartbeat into the record; a record whose
 * heartbeat is older than STALE_MS is re-queued by whichever replica claims its recovery.
 *
 * Compromise: a runner that was only slow (not dead) finds out at its next heartbeat that its
 * attempt was taken over, and stops; the two may overlap for a few seconds. Pushes are
 * idempotent (same source, same tags), so the overlap costs time, not correctness.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { RegistryError } from '../../registry/errors.js';
import { BuildLog } from './build-log.js';
import { newBuildId } from './paths.js';
import { describeError, isBuildProblem } from './pipeline.js';
import { type BuildPlan, type BuildRecord, isFinished, type RecordStore } from './records.js';

export const MAX_ATTEMPTS = 3;

export interface QueueOptions {
  concurrency: number;
  queueLimit: number;
  timeoutMs: number;
  /** How often to look for builds other replicas queued; 0: only at start and on local events. */
  pollMs: number;
  heartbeatMs: number;
  /** A running record with an older heartbeat belongs to a replica that is gone. */
  staleMs: number;
  logMaxBytes: number;
}

export interface ExecutionContext {
  signal: AbortSignal;
  log: (line: string) => void;
  /** Tells which builder was chosen (kept in the record, also when the build then fails). */
  chose?: (builder: 'native' | 'buildah') => void;
}

export type Executor = (record: BuildRecord, context: ExecutionContext) => Promise<{ digest: string; builder: 'native' | 'buildah' }>;

/** Why a running build was stopped (the abort reason). */
export class StopReason extends Error {
  constructor(
    readonly kind: 'cancelled' | 'timeout' | 'shutdown' | 'superseded',
    message: string,
  ) {
    super(message);
    this.name = 'StopReason';
  }
}

interface Running {
  record: BuildRecord;
  controller: AbortController;
  done: Promise<void>;
}

export class BuildQueue {
  /** This process among the replicas (in records and claims). */
  readonly replica = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly running = new Map<string, Running>();
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;

  constructor(
    private readonly store: RecordStore,
    private readonly execute: Executor,
    private readonly options: QueueOptions,
    private readonly log: Logger,
    /**
     * Told of every state a build enters (commit statuses, events), and awaited: a build queued
     * through a request is recorded before the request is answered.
     */
    private readonly onState: (record: BuildRecord) => void | Promise<void>,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.options.pollMs > 0) {
      this.timer = setInterval(() => this.kick(), this.options.pollMs);
      this.timer.unref();
    }
    this.kick();
    void this.rebuildIndex().catch((err: unknown) => this.log.warn({ err }, 'could not rebuild the index of active builds'));
  }

  /**
   * The index (`active/`) is a cache of the records: put back any queued or running build it
   * misses. The write order (index entry before record, removed after) keeps it whole; this is
   * the safety net, once per start, in the background (one read per build kept).
   */
  async rebuildIndex(): Promise<number> {
    const active = new Set(await this.store.activeIds());
    let added = 0;
    for (const id of await this.store.ids()) {
      if (active.has(id)) continue;
      const record = await this.store.get(id);
      if (!record || isFinished(record.state)) continue;
      await this.store.markActive(id);
      added += 1;
    }
    if (added > 0) {
      this.log.warn({ added }, 'active builds missing from the index were put back');
      this.kick();
    }
    return added;
  }

  /** Stops taking builds; running ones are interrupted and queued again (never lost). */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.scanning; // a scan may still launch what it claimed: stop those too
    for (const run of this.running.values()) run.controller.abort(new StopReason('shutdown', 'Berth shut down while building'));
    await Promise.all([...this.running.values()].map((run) => run.done));
  }

  /** Builds this replica runs now. */
  get runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Queues builds, all or none: 429 when the queue (all replicas) would go past its limit. */
  async enqueue(plans: BuildPlan[]): Promise<BuildRecord[]> {
    if (plans.length === 0) return [];
    const queued = await this.queuedCount();
    if (queued + plans.length > this.options.queueLimit) {
      throw new RegistryError('TOOMANYREQUESTS', `the build queue is full (${queued} queued, builds.queueLimit ${this.options.queueLimit}): try again later`);
    }
    const records: BuildRecord[] = [];
    for (const plan of plans) {
      const record: BuildRecord = { ...plan, id: newBuildId(), state: 'queued', attempt: 1, createdAt: new Date().toISOString() };
      await this.store.create(record);
      records.push(record);
    }
    this.kick();
    for (const record of records) await this.onState(record);
    return records;
  }

  /** Cancels a queued or running build (on whichever replica runs it). */
  async cancel(record: BuildRecord, by: string | undefined): Promise<BuildRecord> {
    if (isFinished(record.state)) return record;
    const message = `cancelled${by ? ` by ${by}` : ''}`;
    const local = this.running.get(record.id);
    if (local) {
      local.controller.abort(new StopReason('cancelled', message));
      await local.done;
      return (await this.store.get(record.id)) ?? record;
    }
    if (record.state === 'queued' && (await this.store.claim(record.id, record.attempt, `cancel:${this.replica}`))) {
      const cancelled: BuildRecord = { ...record, state: 'cancelled', finishedAt: new Date().toISOString(), error: message };
      await this.store.save(cancelled);
      await this.store.unmarkActive(record.id);
      await this.appendLog(record.id, `==> ${message} while queued`);
      await this.onState(cancelled);
      return cancelled;
    }
    // Running elsewhere (or just claimed): its replica sees the request at its next heartbeat.
    await this.store.requestCancel(record.id, by);
    return (await this.store.get(record.id)) ?? record;
  }

  /** Looks for work soon (coalesces calls). */
  kick(): void {
    if (!this.started) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = this.scan()
      .catch((err: unknown) => this.log.error({ err }, 'build queue scan failed'))
      .finally(() => {
        this.scanning = undefined;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
        }
      });
  }

  /** Builds queued on every replica (read from storage). */
  async queuedCount(): Promise<number> {
    let count = 0;
    for (const id of await this.store.activeIds()) {
      const record = await this.store.get(id);
      if (record?.state === 'queued') count += 1;
    }
    return count;
  }

  private async scan(): Promise<void> {
    for (const id of await this.store.activeIds()) {
      if (!this.started) return;
      if (this.running.has(id)) continue;
      const record = await this.store.get(id);
      if (!record) continue; // the record is being written, or a crash left only the index entry
      if (isFinished(record.state)) {
        await this.store.unmarkActive(id);
      } else if (record.state === 'running') {
        const beat = Date.parse(record.heartbeatAt ?? record.startedAt ?? record.createdAt);
        if (Date.now() - beat > this.options.staleMs) await this.recover(record);
      } else if (this.running.size < this.options.concurrency) {
        if (await this.store.claim(id, record.attempt, this.replica)) this.launch(record);
      }
    }
  }

  /** A running build whose replica stopped beating: queue it again (or end it), once. */
  private async recover(record: BuildRecord): Promise<void> {
    if (!(await this.store.claimRecovery(record.id, record.attempt, this.replica))) return;
    const why = `replica ${record.runner ?? '?'} stopped answering while building attempt ${record.attempt}`;
    this.log.warn({ build: record.id, runner: record.runner }, 'recovering a build whose replica is gone');
    let next: BuildRecord;
    if (await this.store.cancelRequested(record.id)) {
      next = { ...record, state: 'cancelled', finishedAt: new Date().toISOString(), error: 'cancelled' };
    } else if (record.attempt < MAX_ATTEMPTS) {
      next = this.requeued(record);
    } else {
      next = { ...record, state: 'failed', failure: 'system', finishedAt: new Date().toISOString(), error: `${why}; gave up after ${record.attempt} attempts` };
    }
    await this.appendLog(record.id, `==> ${why}: ${next.state === 'queued' ? 'queued again' : next.state}`);
    await this.store.save(next);
    if (isFinished(next.state)) await this.store.unmarkActive(record.id);
    await this.onState(next);
    this.kick();
  }

  private requeued(record: BuildRecord): BuildRecord {
    const next: BuildRecord = { ...record, state: 'queued', attempt: record.attempt + 1 };
    for (const key of ['startedAt', 'heartbeatAt', 'runner', 'builder', 'error', 'failure'] as const) delete next[key];
    return next;
  }

  private async appendLog(id: string, line: string): Promise<void> {
    const log = new BuildLog(this.store, id, this.options.logMaxBytes, await this.store.readLog(id));
    log.line(line);
    await log.close();
  }

  private launch(queued: BuildRecord): void {
    const controller = new AbortController();
    const entry: Running = { record: queued, controller, done: Promise.resolve() };
    this.running.set(queued.id, entry);
    entry.done = this.run(queued, controller)
      .catch((err: unknown) => this.log.error({ err, build: queued.id }, 'build bookkeeping failed'))
      .finally(() => {
        this.running.delete(queued.id);
        this.kick();
      });
  }

  private async run(queued: BuildRecord, controller: AbortController): Promise<void> {
    const { signal } = controller;
    const now = new Date().toISOString();
    let record: BuildRecord = { ...queued, state: 'running', startedAt: now, heartbeatAt: now, runner: this.replica };
    const log = new BuildLog(this.store, record.id, this.options.logMaxBytes, record.attempt > 1 ? await this.store.readLog(record.id) : undefined);
    log.line(`==> build ${record.id}: ${record.github} ${record.ref.type} ${record.ref.name} (${record.sha.slice(0, 12)}), rule ${record.rule} -> ${record.image}:${record.tags.join(',')}`);
    log.line(`==> attempt ${record.attempt} on replica ${this.replica}`);
    if (await this.store.cancelRequested(record.id)) controller.abort(new StopReason('cancelled', 'cancelled'));
    await this.store.save(record);
    await this.onState(record);

    const timeout = setTimeout(() => controller.abort(new StopReason('timeout', `timed out after ${Math.round(this.options.timeoutMs / 1000)} s (builds.timeoutSeconds)`)), this.options.timeoutMs);
    let beating: Promise<void> = Promise.resolve();
    const heartbeat = setInterval(() => {
      beating = beating.then(() => this.beat(record, controller)).catch((err: unknown) => this.log.warn({ err, build: record.id }, 'build heartbeat failed'));
    }, this.options.heartbeatMs);
    let outcome: { digest: string; builder: 'native' | 'buildah' } | undefined;
    let failure: unknown;
    try {
      const chose = (builder: 'native' | 'buildah'): void => {
        record.builder = builder;
      };
      if (!signal.aborted) outcome = await this.execute(record, { signal, log: (line) => log.line(line), chose });
    } catch (err) {
      failure = err;
    } finally {
      clearTimeout(timeout);
      clearInterval(heartbeat);
      await beating; // a beat written after the final record would bring back `running`
    }
    const reason = signal.aborted ? (signal.reason as unknown) : undefined;
    const finishedAt = new Date().toISOString();
    if (reason instanceof StopReason && reason.kind === 'superseded') {
      log.line(`==> ${reason.message}`);
      this.log.warn({ build: record.id }, reason.message);
      return; // the record belongs to another replica now: write nothing but the log line
    }
    if (outcome && !reason) {
      record = { ...record, state: 'succeeded', finishedAt, digest: outcome.digest, builder: outcome.builder };
    } else if (reason instanceof StopReason && reason.kind === 'cancelled') {
      record = { ...record, state: 'cancelled', finishedAt, error: reason.message };
    } else if (reason instanceof StopReason && reason.kind === 'shutdown') {
      record = record.attempt < MAX_ATTEMPTS ? this.requeued(record) : { ...record, state: 'failed', failure: 'system', finishedAt, error: `${reason.message}; gave up after ${record.attempt} attempts` };
    } else if (reason instanceof StopReason) {
      record = { ...record, state: 'failed', failure: 'system', finishedAt, error: reason.message };
    } else {
      record = { ...record, state: 'failed', failure: isBuildProblem(failure) ? 'build' : 'system', finishedAt, error: describeError(failure) };
      if (!isBuildProblem(failure)) this.log.error({ err: failure, build: record.id }, 'build failed');
    }
    const detail = record.error && record.error !== record.state ? `: ${record.error}` : '';
    log.line(`==> ${record.state === 'queued' ? `interrupted (${(reason as Error).message}): queued again` : `${record.state}${detail}`}`);
    await log.close().catch((err: unknown) => this.log.warn({ err, build: record.id }, 'could not write the build log'));
    await this.store.save(record);
    if (isFinished(record.state)) await this.store.unmarkActive(record.id);
    await this.onState(record);
    this.log.info({ build: record.id, state: record.state, digest: record.digest, error: record.error }, 'build ended');
  }

  /** Heartbeat: still ours? cancel requested? then write the beat. */
  private async beat(record: BuildRecord, controller: AbortController): Promise<void> {
    if (controller.signal.aborted) return;
    const current = await this.store.get(record.id);
    if (!current || current.attempt !== record.attempt || current.runner !== this.replica || current.state !== 'running') {
      controller.abort(new StopReason('superseded', `attempt ${record.attempt} was taken over by another replica; stopping here`));
      return;
    }
    if (await this.store.cancelRequested(record.id)) {
      controller.abort(new StopReason('cancelled', 'cancelled'));
      return;
    }
    record.heartbeatAt = new Date().toISOString();
    await this.store.save(record);
  }
}
