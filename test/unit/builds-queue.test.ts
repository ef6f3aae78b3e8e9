/**
 * The build queue over a storage driver, with a fake executor: states, concurrency, cancel,
 * timeouts, shutdown re-queue, two replicas sharing one storage, a dead replica's build.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { BuildLog } from '../../src/builds/queue/build-log.js';
import { BuildFailure } from '../../src/builds/queue/pipeline.js';
import { BuildQueue, type Executor, MAX_ATTEMPTS, type QueueOptions } from '../../src/builds/queue/queue.js';
import { type BuildPlan, type BuildRecord, RecordStore } from '../../src/builds/queue/records.js';
import { sweep } from '../../src/builds/queue/retention.js';
import { RegistryError } from '../../src/registry/errors.js';

const log = pino({ level: 'silent' });

function plan(overrides: Partial<BuildPlan> = {}): BuildPlan {
  return {
    github: 'acme/hello',
    image: 'acme/hello',
    rule: 'default-branch',
    ref: { type: 'branch', name: 'main' },
    sha: 'a'.repeat(40),
    commitMessage: 'm',
    tags: ['latest'],
    context: '',
    dockerfile: 'Dockerfile',
    buildArgs: {},
    trigger: { kind: 'manual' },
    ...overrides,
  };
}

const OPTIONS: QueueOptions = { concurrency: 1, queueLimit: 10, timeoutMs: 10_000, pollMs: 50, heartbeatMs: 50, staleMs: 300, logMaxBytes: 64 * 1024 };

/** An executor whose builds wait until released (or aborted). */
class Gate {
  readonly started: string[] = [];
  private readonly waiting = new Map<string, () => void>();
  fail: unknown;
  readonly execute: Executor = (record, { signal, log: line }) => {
    this.started.push(record.id);
    line(`building ${record.id}`);
    return new Promise((resolve, reject) => {
      const abort = (): void => reject(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      this.waiting.set(record.id, () => {
        signal.removeEventListener('abort', abort);
        if (this.fail) reject(this.fail);
        else resolve({ digest: `sha256:${'d'.repeat(64)}`, builder: 'buildah' });
      });
    });
  };
  release(id: string): void {
    this.waiting.get(id)?.();
  }
}

async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('build queue', () => {
  const queues: BuildQueue[] = [];
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.stop()));
  });

  function make(driver: StorageDriver, gate: Gate, options: Partial<QueueOptions> = {}, states: BuildRecord[] = []) {
    const store = new RecordStore(driver, log);
    const queue = new BuildQueue(store, gate.execute, { ...OPTIONS, ...options }, log, (r) => void states.push(r));
    queues.push(queue);
    return { store, queue };
  }
  const stateOf = async (store: RecordStore, id: string) => (await store.get(id))?.state;

  it('runs queued builds one at a time, in order, and records the outcome and log', async () => {
    const gate = new Gate();
    const states: BuildRecord[] = [];
    const { store, queue } = make(createMemoryDriver(), gate, {}, states);
    queue.start();
    const [a, b] = await queue.enqueue([plan(), plan({ rule: 'second' })]);
    await until(() => gate.started.length === 1);
    expect(gate.started).toEqual([a!.id]);
    expect(await stateOf(store, b!.id)).toBe('queued');
    gate.release(a!.id);
    await until(() => gate.started.length === 2);
    gate.release(b!.id);
    await until(async () => (await stateOf(store, b!.id)) === 'succeeded');
    const done = (await store.get(a!.id))!;
    expect(done).toMatchObject({ state: 'succeeded', attempt: 1, digest: `sha256:${'d'.repeat(64)}`, builder: 'buildah' });
    expect((await store.readLog(a!.id)).toString()).toMatch(/building .*\n==> succeeded\n$/);
    expect(states.filter((s) => s.id === a!.id).map((s) => s.state)).toEqual(['queued', 'running', 'succeeded']);
    expect(await store.activeIds()).toEqual([]);
  });

  it('marks failures as build or system problems', async () => {
    const gate = new Gate();
    const { store, queue } = make(createMemoryDriver(), gate);
    queue.start();
    gate.fail = new BuildFailure('Dockerfile line 3: RUN needs buildah');
    const [a] = await queue.enqueue([plan()]);
    await until(() => gate.started.length === 1);
    gate.release(a!.id);
    const failed = await until(async () => ((await store.get(a!.id))?.state === 'failed' ? store.get(a!.id) : undefined));
    expect(failed).toMatchObject({ failure: 'build', error: 'Dockerfile line 3: RUN needs buildah' });
    gate.fail = new Error('storage went away');
    const [b] = await queue.enqueue([plan()]);
    await until(() => gate.started.length === 2);
    gate.release(b!.id);
    expect(await until(async () => ((await store.get(b!.id))?.state === 'failed' ? store.get(b!.id) : undefined))).toMatchObject({ failure: 'system' });
  });

  it('refuses builds past the queue limit with TOOMANYREQUESTS, all or none', async () => {
    const gate = new Gate();
    const { store, queue } = make(createMemoryDriver(), gate, { queueLimit: 2 });
    await queue.enqueue([plan(), plan()]);
    const err = await queue.enqueue([plan()]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('TOOMANYREQUESTS');
    expect((await store.ids()).length).toBe(2);
  });

  it('cancels a queued build without running it, and a running one through its signal', async () => {
    const gate = new Gate();
    const { store, queue } = make(createMemoryDriver(), gate);
    queue.start();
    const [a, b] = await queue.enqueue([plan(), plan()]);
    await until(() => gate.started.length === 1);
    expect((await queue.cancel((await store.get(b!.id))!, 'alice')).state).toBe('cancelled');
    expect((await queue.cancel((await store.get(a!.id))!, 'alice')).state).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 150));
    expect(gate.started).toEqual([a!.id]);
    expect(await store.get(a!.id)).toMatchObject({ state: 'cancelled', error: 'cancelled by alice' });
    expect((await store.readLog(b!.id)).toString()).toMatch(/cancelled by alice while queued/);
  });

  it('fails a build that runs past its timeout', async () => {
    const gate = new Gate();
    const { store, queue } = make(createMemoryDriver(), gate, { timeoutMs: 100 });
    queue.start();
    const [a] = await queue.enqueue([plan()]);
    const failed = await until(async () => ((await store.get(a!.id))?.state === 'failed' ? store.get(a!.id) : undefined));
    expect(failed).toMatchObject({ failure: 'system' });
    expect(failed!.error).toMatch(/timed out/);
  });

  it('queues a running build again when stopped, and the next start runs it', async () => {
    const driver = createMemoryDriver();
    const first = new Gate();
    const one = make(driver, first);
    one.queue.start();
    const [a, b] = await one.queue.enqueue([plan(), plan()]);
    await until(() => first.started.length === 1);
    await one.queue.stop();
    expect(await one.store.get(a!.id)).toMatchObject({ state: 'queued', attempt: 2 });
    expect(await stateOf(one.store, b!.id)).toBe('queued');

    const second = new Gate();
    const two = make(driver, second);
    two.queue.start();
    await until(() => second.started.length === 1);
    expect(second.started).toEqual([a!.id]);
    second.release(a!.id);
    await until(() => second.started.length === 2);
    second.release(b!.id);
    await until(async () => (await stateOf(two.store, b!.id)) === 'succeeded');
    const log = (await two.store.readLog(a!.id)).toString();
    expect(log).toMatch(/attempt 1[\s\S]*queued again[\s\S]*attempt 2[\s\S]*succeeded/);
  });

  it('lets exactly one of two replicas run each build', async () => {
    const driver = createMemoryDriver();
    const gates = [new Gate(), new Gate()];
    const replicas = gates.map((gate) => make(driver, gate, { concurrency: 2 }));
    for (const r of replicas) r.queue.start();
    const records = await replicas[0]!.queue.enqueue([plan(), plan(), plan(), plan()]);
    await until(() => gates[0]!.started.length + gates[1]!.started.length === 4);
    await new Promise((r) => setTimeout(r, 200));
    const all = [...gates[0]!.started, ...gates[1]!.started].sort();
    expect(all).toEqual(records.map((r) => r.id).sort());
    for (const id of all) for (const gate of gates) gate.release(id);
    for (const r of records) await until(async () => (await stateOf(replicas[1]!.store, r.id)) === 'succeeded');
  });

  it("re-queues a build whose replica died (stale heartbeat), and cancels one of another replica on request", async () => {
    const driver = createMemoryDriver();
    const store = new RecordStore(driver, log);
    // A replica that died mid-build: its record says running, its heartbeat is old.
    const old = new Date(Date.now() - 60_000).toISOString();
    const dead: BuildRecord = { ...plan(), id: '20200101-000000000-abcdef', state: 'running', attempt: 1, createdAt: old, startedAt: old, heartbeatAt: old, runner: 'gone' };
    await store.create(dead);
    await store.claim(dead.id, 1, 'gone');
    const gate = new Gate();
    const { queue } = make(driver, gate);
    queue.start();
    await until(() => gate.started.length === 1);
    expect(await store.get(dead.id)).toMatchObject({ state: 'running', attempt: 2 });

    // Cancel through another replica's queue: it asks, the runner sees it at its heartbeat.
    const other = make(driver, new Gate());
    const answer = await other.queue.cancel((await store.get(dead.id))!, 'bob');
    expect(answer.state).toBe('running');
    await until(async () => (await stateOf(store, dead.id)) === 'cancelled');
  });

  it(`gives up after ${MAX_ATTEMPTS} interrupted attempts`, async () => {
    const driver = createMemoryDriver();
    const store = new RecordStore(driver, log);
    const old = new Date(Date.now() - 60_000).toISOString();
    const dead: BuildRecord = { ...plan(), id: '20200101-000000000-fedcba', state: 'running', attempt: MAX_ATTEMPTS, createdAt: old, heartbeatAt: old };
    await store.create(dead);
    const { queue } = make(driver, new Gate());
    queue.start();
    const failed = await until(async () => ((await store.get(dead.id))?.state === 'failed' ? store.get(dead.id) : undefined));
    expect(failed!.error).toMatch(/gave up after 3 attempts/);
  });

  it('puts back index entries of active builds at start', async () => {
    const driver = createMemoryDriver();
    const store = new RecordStore(driver, log);
    const record: BuildRecord = { ...plan(), id: '20240101-000000000-000001', state: 'queued', attempt: 1, createdAt: new Date().toISOString() };
    await store.save(record); // no index entry
    const gate = new Gate();
    const { queue } = make(driver, gate);
    queue.start();
    await until(() => gate.started.length === 1);
    gate.release(record.id);
  });

  it('sweeps finished builds and deliveries past retention, keeps the rest', async () => {
    const driver = createMemoryDriver();
    const store = new RecordStore(driver, log);
    const long = '2020-01-01T00:00:00.000Z';
    await store.save({ ...plan(), id: '20200101-000000000-000001', state: 'succeeded', attempt: 1, createdAt: long, finishedAt: long });
    await store.save({ ...plan(), id: '20200101-000000000-000002', state: 'queued', attempt: 1, createdAt: long });
    await store.save({ ...plan(), id: '20990101-000000000-000003', state: 'failed', attempt: 1, createdAt: long, finishedAt: long });
    await store.claimDelivery('d1', { receivedAt: long, event: 'push' });
    expect(await sweep(store, 30, log)).toEqual({ builds: 1, deliveries: 0 });
    expect(await sweep(store, 30, log, Date.now() + 40 * 24 * 3600 * 1000)).toEqual({ builds: 0, deliveries: 1 });
    expect((await store.ids()).sort()).toEqual(['20200101-000000000-000002', '20990101-000000000-000003']);
  });
});

describe('build log', () => {
  it('caps the stored log, keeping the head and the last lines, and only ever appends', async () => {
    const store = new RecordStore(createMemoryDriver(), log);
    const id = '20240101-000000000-000009';
    const buildLog = new BuildLog(store, id, 8192);
    for (let i = 0; i < 2000; i++) buildLog.line(`line ${i}`);
    await buildLog.flush();
    const partial = (await store.readLog(id)).toString();
    await buildLog.close();
    const full = (await store.readLog(id)).toString();
    expect(full.startsWith(partial)).toBe(true);
    expect(full.length).toBeLessThanOrEqual(8192);
    expect(full).toMatch(/^line 0\n/);
    expect(full).toMatch(/bytes of output omitted/);
    expect(full).toMatch(/line 1999\n$/);
    buildLog.line('after close');
    await buildLog.flush();
    expect((await store.readLog(id)).toString()).toBe(full);
    expect((await store.readLog(id, partial.length)).toString()).toBe(full.slice(partial.length));
  });
});
