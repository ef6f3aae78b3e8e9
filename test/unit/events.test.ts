/**
 * The events' parts on a memory driver (and a real receiver on a real socket for deliveries):
 * the record and its two formats, ids, config, the lease, delivery (in order, retries, backoff
 * kept across a restart, backlog, two replicas), queries and pruning.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { loadConfig } from '../../src/config.js';
import type { EndpointConfig, NotificationsConfig } from '../../src/events/config.js';
import { Deliverer, type DeliveryOptions } from '../../src/events/delivery.js';
import { buildEvent, eventsOfChange, type EventRecord, newSource, pullEvent } from '../../src/events/event.js';
import { distributionEvent, render } from '../../src/events/formats.js';
import { Lease } from '../../src/events/lease.js';
import { dayOf, EVENT_ID, idPrefix, newEventId, queuePath, statePath } from '../../src/events/paths.js';
import { MAX_SCANNED, queryEvents, tagHistory } from '../../src/events/query.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { prune } from '../../src/events/retention.js';
import { EventStore } from '../../src/events/store.js';
import { BuildQueue } from '../../src/builds/queue/queue.js';
import { RecordStore } from '../../src/builds/queue/records.js';
import { Registry } from '../../src/registry/registry.js';
import { actorOf } from '../../src/http/origin.js';
import { createLogger } from '../../src/log.js';
import { eventually, Receiver } from '../helpers/receiver.js';

const SECRET = 'unit-test-secret-0123456789';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const source = { addr: 'node-1:5000', instanceID: 'instance-1' };

function logs(): { log: ReturnType<typeof createLogger>; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { log: createLogger('debug', sink), lines };
}

function endpoint(url: string, overrides: Partial<EndpointConfig> = {}): EndpointConfig {
  return { name: 'hook', url, secret: SECRET, events: ['push', 'delete', 'build'], repositories: ['*'], format: 'distribution', headers: {}, timeoutMs: 2000, ...overrides };
}

function settings(endpoints: EndpointConfig[], overrides: Partial<NotificationsConfig> = {}): NotificationsConfig {
  return { endpoints, journal: true, retention: '90d', backlog: 100, backoff: { initial: '20ms', max: '100ms' }, lease: '2s', poll: '50ms', ...overrides };
}

const OPTIONS: DeliveryOptions = { backlog: 100, backoffInitialMs: 20, backoffMaxMs: 100, pollMs: 50, leaseMs: 2000 };

/** An event at a given time (ids from newEventId are always "now"). */
function eventAt(time: Date, repository: string, overrides: Partial<EventRecord> = {}): EventRecord {
  const id = `${idPrefix(time)}-0000-${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}`;
  return { id, timestamp: time.toISOString(), action: 'push', target: { repository, digest: DIGEST, tag: 'latest' }, actor: { name: 'alice' }, source, ...overrides };
}

function pushes(repository: string, count: number): EventRecord[] {
  return Array.from({ length: count }, (_, i) =>
    eventsOfChange({ kind: 'manifest-pushed', repository, digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, tags: [`t${i}`] }, { actor: { name: 'alice' } }, source),
  ).flat();
}

/** A driver whose event writes take a while: whoever does not wait for them answers too early. */
function slowEvents(driver: StorageDriver): StorageDriver {
  return new Proxy(driver, {
    get(target, key) {
      if (key !== 'putContent') return Reflect.get(target, key);
      return async (path: string, data: Uint8Array) => {
        if (path.startsWith('/_berth/events/')) await new Promise((r) => setTimeout(r, 150));
        return target.putContent(path, data);
      };
    },
  });
}

describe('event records and formats', () => {
  it('renders the Distribution envelope with its field names, in its order, and signs the exact body', () => {
    const [event] = eventsOfChange(
      { kind: 'manifest-pushed', repository: 'team-a/app', digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 528, tags: ['prod'] },
      {
        actor: { name: 'ci', token: 'k3f9' },
        request: { id: 'req-1', addr: '10.0.0.7', host: 'registry.example.com', method: 'PUT', useragent: 'skopeo/1.9.3' },
        baseUrl: 'https://registry.example.com',
      },
      source,
    );
    const { contentType, body } = render('distribution', event!);
    expect(contentType).toBe('application/vnd.docker.distribution.events.v1+json');
    const envelope = JSON.parse(body.toString());
    expect(Object.keys(envelope)).toEqual(['events']);
    const [sent] = envelope.events;
    expect(Object.keys(sent)).toEqual(['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    expect(Object.keys(sent.target)).toEqual(['mediaType', 'size', 'digest', 'length', 'repository', 'url', 'tag']);
    expect(sent.target).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 528,
      digest: DIGEST,
      length: 528,
      repository: 'team-a/app',
      url: `https://registry.example.com/v2/team-a/app/manifests/${DIGEST}`,
      tag: 'prod',
    });
    expect(Object.keys(sent.request)).toEqual(['id', 'addr', 'host', 'method', 'useragent']);
    expect(sent.actor).toEqual({ name: 'ci', token: 'k3f9' });
    expect(sent.source).toEqual(source);
    expect(sent.action).toBe('push');
    expect(EVENT_ID.test(sent.id)).toBe(true);
    expect(new Date(sent.timestamp).toISOString()).toBe(sent.timestamp);
  });

  it('renders CloudEvents 1.0 structured JSON with the same event as data', () => {
    const [event] = eventsOfChange({ kind: 'tag-deleted', repository: 'team-a/app', tag: 'prod', digest: DIGEST }, { actor: { name: 'bob' } }, source);
    const { contentType, body } = render('cloudevents', event!);
    expect(contentType).toBe('application/cloudevents+json; charset=utf-8');
    const ce = JSON.parse(body.toString());
    expect(ce).toMatchObject({ specversion: '1.0', id: event!.id, source: '/v2/team-a/app', type: 'berth.delete', subject: 'prod', time: event!.timestamp, datacontenttype: 'application/json' });
    expect(ce.data).toEqual(distributionEvent(event!));
  });

  it('makes one push event per tag, and a manifest delete as the delete and one per tag it removed', () => {
    const pushed = eventsOfChange({ kind: 'manifest-pushed', repository: 'r', digest: DIGEST, mediaType: 'm', size: 1, tags: ['a', 'b'] }, undefined, source);
    expect(pushed.map((e) => [e.action, e.target.tag])).toEqual([
      ['push', 'a'],
      ['push', 'b'],
    ]);
    expect(pushed[0]!.id < pushed[1]!.id).toBe(true);
    expect(eventsOfChange({ kind: 'manifest-pushed', repository: 'r', digest: DIGEST, mediaType: 'm', size: 1, tags: [] }, undefined, source)).toHaveLength(1);
    const deleted = eventsOfChange({ kind: 'manifest-deleted', repository: 'r', digest: DIGEST, tags: ['x', 'y'] }, { actor: { name: 'cli' } }, source);
    expect(deleted.map((e) => [e.action, e.target.digest, e.target.tag, e.actor.name])).toEqual([
      ['delete', DIGEST, undefined, 'cli'],
      ['delete', DIGEST, 'x', 'cli'],
      ['delete', DIGEST, 'y', 'cli'],
    ]);
    const blob = eventsOfChange({ kind: 'blob-deleted', repository: 'r', digest: DIGEST }, undefined, source);
    expect(blob[0]!.target).toEqual({ digest: DIGEST, repository: 'r' });
    const pull = pullEvent('r', 'v1', { digest: DIGEST, mediaType: 'm', size: 3 }, { actor: {} }, source);
    expect(pull.target).toMatchObject({ tag: 'v1', digest: DIGEST });
    expect(pullEvent('r', DIGEST, { digest: DIGEST, mediaType: 'm', size: 3 }, { actor: {} }, source).target.tag).toBeUndefined();
  });

  it('makes build events for queued (first attempt), succeeded, failed and cancelled only', () => {
    const build = { id: 'b1', attempt: 1, github: 'acme/hello', image: 'acme/hello', ref: { type: 'branch', name: 'main' }, sha: 'c'.repeat(40), tags: ['latest', 'main'] };
    const queued = buildEvent({ ...build, state: 'queued', trigger: { kind: 'webhook' } }, 'http://b/api/builds/b1/logs', source)!;
    expect(queued).toMatchObject({ action: 'build.queued', target: { repository: 'acme/hello', tag: 'latest' }, actor: { name: 'github' } });
    expect(queued.build).toMatchObject({ id: 'b1', commit: 'c'.repeat(40), tags: ['latest', 'main'], logUrl: 'http://b/api/builds/b1/logs', trigger: 'webhook' });
    const failed = buildEvent({ ...build, state: 'failed', error: 'Dockerfile line 3: boom', trigger: { kind: 'manual', user: 'alice' } }, 'u', source)!;
    expect(failed).toMatchObject({ action: 'build.failed', actor: { name: 'alice' }, build: { error: 'Dockerfile line 3: boom' } });
    expect(buildEvent({ ...build, state: 'succeeded', digest: DIGEST, trigger: { kind: 'webhook' } }, 'u', source)!.target.digest).toBe(DIGEST);
    expect(buildEvent({ ...build, state: 'running', trigger: { kind: 'webhook' } }, 'u', source)).toBeUndefined();
    expect(buildEvent({ ...build, attempt: 2, state: 'queued', trigger: { kind: 'webhook' } }, 'u', source)).toBeUndefined();
  });

  it('reads a robot token caller as its user and token id', () => {
    expect(actorOf('ci[token:k3f9ab]')).toEqual({ name: 'ci', token: 'k3f9ab' });
    expect(actorOf('alice')).toEqual({ name: 'alice' });
    expect(actorOf(undefined)).toEqual({});
  });

  it('makes ids that sort in the order they were made, by time first', () => {
    const ids = Array.from({ length: 50 }, () => newEventId(Date.UTC(2031, 0, 2, 3, 4, 5, 6)).id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(50);
    expect(ids[0]!.startsWith('20310102-030405006-')).toBe(true);
    expect(dayOf(ids[0]!)).toBe('20310102');
    expect(ids.every((id) => EVENT_ID.test(id))).toBe(true);
  });
});

describe('notifications config', () => {
  const base = (endpoints: unknown[]) => ({ notifications: { endpoints } });
  const load = (raw: object, env: NodeJS.ProcessEnv = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-events-config-'));
    try {
      writeFileSync(join(dir, 'berth.yaml'), JSON.stringify(raw));
      return loadConfig({ file: join(dir, 'berth.yaml'), env });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('has defaults, takes scalars from the environment, and fills each endpoint in', () => {
    const config = load(base([{ name: 'deploys', url: 'https://deploy.example.com/hook', secret: 'x'.repeat(32) }]), { BERTH_NOTIFICATIONS_RETENTION: '30d', BERTH_NOTIFICATIONS_BACKLOG: '50' });
    expect(config.notifications).toMatchObject({ journal: true, retention: '30d', backlog: 50, backoff: { initial: '1s', max: '5m' }, lease: '15s', poll: '2s' });
    expect(config.notifications.endpoints[0]).toEqual({
      name: 'deploys',
      url: 'https://deploy.example.com/hook',
      secret: 'x'.repeat(32),
      events: ['push', 'delete', 'build'],
      repositories: ['*'],
      format: 'distribution',
      headers: {},
      timeoutMs: 5000,
    });
    expect(load({}).notifications.endpoints).toEqual([]);
  });

  it.each([
    [[{ name: 'a b', url: 'http://x' }], /name: letters/],
    [[{ name: 'a', url: 'ftp://x' }], /url: must be an http\(s\) URL/],
    [[{ name: 'a', url: 'https://user:pw@x/hook' }], /url: no credentials in the URL/],
    [[{ name: 'a', url: 'http://x' }, { name: 'a', url: 'http://y' }], /a is used twice/],
    [[{ name: 'a', url: 'http://x', secret: 'short' }], /secret: must be at least 16/],
    [[{ name: 'a', url: 'http://x', events: ['push', 'mount'] }], /"mount" is not one of push, delete, pull, build/],
    [[{ name: 'a', url: 'http://x', format: 'json' }], /format: must be distribution or cloudevents/],
    [[{ name: 'a', url: 'http://x', headers: { 'Content-Type': 'text/plain' } }], /Content-Type: set by Berth itself/],
    [[{ name: 'a', url: 'http://x', headers: { X: 'a\r\nInjected: 1' } }], /line breaks/],
    [[{ name: 'a', url: 'http://x', timeout: '10m' }], /timeout: must be a duration from 100ms to 5m/],
    [[{ name: 'a', url: 'http://x', colour: 'red' }], /colour: unknown key/],
  ])('refuses a bad endpoint %j', (endpoints, message) => {
    expect(() => load(base(endpoints))).toThrow(message);
  });

  it('refuses durations it cannot use', () => {
    expect(() => load({ notifications: { retention: 'forever' } })).toThrow(/notifications.retention: must be a duration/);
    expect(() => load({ notifications: { backoff: { initial: '1m', max: '1s' } } })).toThrow(/backoff.max: must be at least backoff.initial/);
    expect(() => load({}, { BERTH_NOTIFICATIONS_LEASE: '10ms' })).toThrow(/notifications.lease: must be at least 1000 ms/);
  });

  it('takes Distribution-style header lists', () => {
    const config = load(base([{ name: 'a', url: 'http://x', headers: { Authorization: ['Bearer abc'] } }]));
    expect(config.notifications.endpoints[0]!.headers).toEqual({ Authorization: 'Bearer abc' });
  });
});

describe('the delivery lease', () => {
  it('is held by one replica at a time; a stale one is taken over, a released one at once', async () => {
    const driver = createMemoryDriver();
    const a = new Lease(driver, 'hook', 'replica-a', 1000);
    const b = new Lease(driver, 'hook', 'replica-b', 1000);
    const now = Date.now();
    const [gotA, gotB] = await Promise.all([a.acquire(now), b.acquire(now)]);
    expect([gotA, gotB].filter(Boolean)).toHaveLength(1);
    const [holder, other] = gotA ? [a, b] : [b, a];
    expect(await other.acquire(now + 500)).toBe(false);
    expect(await holder.renew(now + 900)).toBe(true);
    expect(await other.acquire(now + 1800)).toBe(false); // renewed at +900: still fresh
    expect(await other.acquire(now + 2000)).toBe(true); // not renewed for a whole lease: gone
    expect(await holder.check()).toBe(false);
    expect(await holder.renew()).toBe(false);
    await other.release();
    expect(await holder.acquire(now + 2001)).toBe(true);
  });

  it('takes one term per replica even when many try at once', async () => {
    const driver = createMemoryDriver();
    const leases = Array.from({ length: 8 }, (_, i) => new Lease(driver, 'hook', `r${i}`, 1000));
    const got = await Promise.all(leases.map((l) => l.acquire()));
    expect(got.filter(Boolean)).toHaveLength(1);
  });
});

describe('delivery', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(receiverSecret = SECRET, options: Partial<DeliveryOptions> = {}, endpointOverrides: Partial<EndpointConfig> = {}) {
    const receiver = await Receiver.start(receiverSecret);
    cleanups.push(() => receiver.close());
    const driver = createMemoryDriver();
    const { log, lines } = logs();
    const store = new EventStore(driver, log);
    const target = endpoint(`${receiver.url}/hook`, endpointOverrides);
    const deliverer = (replica: string, extra: Partial<DeliveryOptions> = {}) => {
      const d = new Deliverer(target, store, new Lease(driver, target.name, replica, (extra.leaseMs ?? options.leaseMs) ?? OPTIONS.leaseMs), { ...OPTIONS, ...options, ...extra }, log);
      cleanups.push(() => d.stop());
      return d;
    };
    const recorder = new EventRecorder(store, settings([target]), source);
    return { receiver, driver, store, log, lines, target, deliverer, recorder };
  }

  it('delivers in order, signed; answers of 500 are retried until 200, and each event arrives once', async () => {
    const { receiver, recorder, deliverer, driver, store } = await setup();
    let refusals = 3;
    receiver.answer = () => (refusals-- > 0 ? 500 : 204);
    const events = pushes('team-a/app', 6);
    await recorder.record(events);
    const d = deliverer('replica-a');
    d.start();
    await receiver.waitFor(() => receiver.accepted().length === 6);
    expect(receiver.accepted().map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(receiver.deliveries.every((x) => x.verified)).toBe(true);
    expect(receiver.deliveries.slice(0, 4).map((x) => [x.status, x.events[0]!.id])).toEqual([
      [500, events[0]!.id],
      [500, events[0]!.id],
      [500, events[0]!.id],
      [204, events[0]!.id],
    ]);
    expect(d.stats).toMatchObject({ failed: 3, dropped: 0 });
    // Delivered events leave the queue; the state says the endpoint answers again.
    await eventually(async () => expect(await store.pending('hook')).toEqual([]));
    expect(d.stats.delivered).toBe(6);
    expect(JSON.parse((await driver.getContent(statePath('hook'))).toString())).toMatchObject({ failures: 0, nextAttemptAt: 0 });
  });

  it('keeps the backoff across a restart: the next replica waits it out, then delivers', async () => {
    const { receiver, recorder, deliverer, driver } = await setup(SECRET, { backoffInitialMs: 700, backoffMaxMs: 700 });
    receiver.answer = () => 503;
    const [event] = pushes('team-a/app', 1);
    await recorder.record([event!]);
    const first = deliverer('replica-a');
    first.start();
    const readState = async () => JSON.parse((await driver.getContent(statePath('hook'))).toString());
    await eventually(async () => expect(await readState()).toMatchObject({ failures: 1, lastStatus: 503, lastError: 'answered 503' }));
    await first.stop();
    const state = await readState();
    receiver.answer = () => 204;
    const second = deliverer('replica-b');
    second.start();
    await receiver.waitFor(() => receiver.accepted().length === 1);
    // The second attempt came no earlier than the stored backoff allowed.
    const secondAttempt = receiver.deliveries[1]!;
    expect(secondAttempt.events[0]!.id).toBe(event!.id);
    expect(secondAttempt.at).toBeGreaterThanOrEqual(state.nextAttemptAt);
  });

  it('drops the oldest events past the backlog, with a log line, and delivers the rest in order', async () => {
    const { receiver, recorder, deliverer, lines } = await setup(SECRET, { backlog: 3 });
    const events = pushes('team-a/app', 5);
    await recorder.record(events);
    const d = deliverer('replica-a', { backlog: 3 });
    d.start();
    await receiver.waitFor(() => receiver.accepted().length === 3);
    expect(receiver.accepted().map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
    expect(d.stats.dropped).toBe(2);
    const line = lines.find((l) => /backlog full/.test(l.msg));
    expect(line).toMatchObject({ endpoint: 'hook', dropped: 2, oldest: events[0]!.id, newest: events[1]!.id, backlog: 3 });
  });

  it('with two replicas on one storage, delivers each event once, from the lease holder', async () => {
    const { receiver, recorder, deliverer } = await setup();
    const a = deliverer('replica-a');
    const b = deliverer('replica-b');
    a.start();
    b.start();
    const events = pushes('team-a/app', 20);
    for (const [i, event] of events.entries()) {
      await recorder.record([event]);
      (i % 2 ? a : b).kick();
    }
    await receiver.waitFor(() => receiver.accepted().length >= 20);
    expect(receiver.accepted().map((e) => e.id)).toEqual(events.map((e) => e.id));
    await eventually(() => expect(a.stats.delivered + b.stats.delivered).toBe(20));
    expect(Math.min(a.stats.delivered, b.stats.delivered)).toBe(0);
    // The holder stops cleanly: the other takes over at once and delivers what comes next.
    const [holder, other] = a.stats.delivered > 0 ? [a, b] : [b, a];
    await holder.stop();
    const [late] = pushes('team-a/app', 1);
    await recorder.record([late!]);
    other.kick();
    await receiver.waitFor(() => receiver.accepted().length === 21);
    await eventually(() => expect(other.stats.delivered).toBe(1));
  });

  it('does not follow redirects, and says where it was sent', async () => {
    const { receiver, recorder, deliverer, driver } = await setup(SECRET, { backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
    receiver.answer = () => 308;
    await recorder.record(pushes('team-a/app', 1));
    deliverer('replica-a').start();
    await receiver.waitFor(() => receiver.deliveries.length === 1);
    await eventually(async () =>
      expect(JSON.parse((await driver.getContent(statePath('hook'))).toString())).toMatchObject({ failures: 1, lastStatus: 308, lastError: expect.stringMatching(/^redirected/) }),
    );
  });

  it('queues only what an endpoint subscribes to: events and repositories', async () => {
    const driver = createMemoryDriver();
    const store = new EventStore(driver, logs().log);
    const recorder = new EventRecorder(
      store,
      settings([endpoint('http://x', { name: 'team-a', repositories: ['team-a/*'], events: ['push'] }), endpoint('http://x', { name: 'pulls', events: ['pull'] })]),
      source,
    );
    expect(recorder.wantsPulls).toBe(true);
    const [push] = pushes('team-a/app', 1);
    const [other] = pushes('team-b/app', 1);
    const [del] = eventsOfChange({ kind: 'tag-deleted', repository: 'team-a/app', tag: 'x' }, undefined, source);
    const pull = pullEvent('team-b/app', 'v1', { digest: DIGEST, mediaType: 'm', size: 1 }, { actor: {} }, source);
    await recorder.record([push!, other!, del!, pull]);
    expect(await store.pending('team-a')).toEqual([push!.id]);
    expect(await store.pending('pulls')).toEqual([pull.id]);
    expect((await store.dayIds(dayOf(push!.id))).length).toBe(4); // the journal has them all
    await expect(driver.getContent(queuePath('team-a', del!.id))).rejects.toThrow(/not found/);
  });

  it('writes nothing when the journal is off and no endpoint wants the event', async () => {
    const driver = createMemoryDriver();
    const recorder = new EventRecorder(new EventStore(driver, logs().log), settings([], { journal: false }), source);
    expect(recorder.active).toBe(false);
    await recorder.record(pushes('team-a/app', 2));
    await expect(driver.list('/_berth')).rejects.toThrow(/not found/);
  });
});

describe('queries and pruning', () => {
  async function journal(driver: StorageDriver, events: EventRecord[]) {
    const store = new EventStore(driver, logs().log);
    await store.write(events.map((event) => ({ event, placement: { journal: true, endpoints: ['hook'] } })));
    return store;
  }

  it('lists newest first with filters, pages with next, and shows only what the caller may read', async () => {
    const driver = createMemoryDriver();
    const day1 = Date.UTC(2031, 4, 1, 12);
    const events = [
      eventAt(new Date(day1), 'team-a/app'),
      eventAt(new Date(day1 + 1000), 'team-b/app', { action: 'delete' }),
      eventAt(new Date(day1 + 86_400_000), 'team-a/web', { action: 'build.failed', target: { repository: 'team-a/web' } }),
      eventAt(new Date(day1 + 86_400_000 + 1000), 'team-a/app', { action: 'pull' }),
    ];
    const store = await journal(driver, events);
    const ids = (page: { events: EventRecord[] }) => page.events.map((e) => e.id);
    expect(ids(await queryEvents(store, { limit: 10 }))).toEqual(events.map((e) => e.id).reverse());
    expect(ids(await queryEvents(store, { limit: 10, repository: 'team-a/*' }))).toEqual([events[3]!.id, events[2]!.id, events[0]!.id]);
    expect(ids(await queryEvents(store, { limit: 10, action: 'build' }))).toEqual([events[2]!.id]);
    expect(ids(await queryEvents(store, { limit: 10, action: 'delete' }))).toEqual([events[1]!.id]);
    expect(ids(await queryEvents(store, { limit: 10, since: new Date(day1 + 86_400_000 + 500) }))).toEqual([events[3]!.id]);
    expect(ids(await queryEvents(store, { limit: 10, canRead: (name) => name !== 'team-a/app' }))).toEqual([events[2]!.id, events[1]!.id]);
    const first = await queryEvents(store, { limit: 3 });
    expect(first.next).toBe(events[1]!.id);
    expect(ids(await queryEvents(store, { limit: 3, before: first.next }))).toEqual([events[0]!.id]);
    await expect(queryEvents(store, { limit: 1, action: 'explode' })).rejects.toThrow(/action: one of/);
  });

  it('reads at most MAX_SCANNED events for one page, and says where to go on', async () => {
    const driver = createMemoryDriver();
    const start = Date.UTC(2031, 4, 1, 12);
    const noise = Array.from({ length: MAX_SCANNED + 5 }, (_, i) => eventAt(new Date(start + i), 'team-b/app'));
    const store = await journal(driver, [eventAt(new Date(start - 1), 'team-a/rare'), ...noise]);
    const page = await queryEvents(store, { limit: 10, repository: 'team-a/rare' });
    expect(page.events).toEqual([]);
    expect(page.next).toBe(noise[5]!.id);
    const rest = await queryEvents(store, { limit: 10, repository: 'team-a/rare', before: page.next });
    expect(rest.events.map((e) => e.target.repository)).toEqual(['team-a/rare']);
  });

  it('prunes days, tag history entries and queued events older than the retention, and keeps the rest', async () => {
    const driver = createMemoryDriver();
    const now = Date.UTC(2031, 6, 1, 12);
    const old = eventAt(new Date(now - 91 * 86_400_000), 'team-a/app');
    const young = eventAt(new Date(now - 89 * 86_400_000), 'team-a/app');
    const store = await journal(driver, [old, young]);
    expect((await tagHistory(store, 'team-a/app', 'latest', 10)).map((e) => e.id)).toEqual([old.id, young.id]);
    const report = await prune(store, 90 * 86_400_000, logs().log, now);
    expect(report).toEqual({ days: 1, tagEntries: 1, queued: 1 });
    expect((await tagHistory(store, 'team-a/app', 'latest', 10)).map((e) => e.id)).toEqual([young.id]);
    expect(await store.pending('hook')).toEqual([young.id]);
    expect(await store.days()).toEqual([dayOf(young.id)]);
  });
});

describe('the registry and its observer', () => {
  it('has every event of a push and a delete in storage when the call returns', async () => {
    const driver = slowEvents(createMemoryDriver());
    const store = new EventStore(driver, logs().log);
    const recorder = new EventRecorder(store, settings([endpoint('http://127.0.0.1:9/hook')]), source);
    const registry = new Registry(driver, { maxManifestSize: 1 << 20, maxBlobSize: 0 }, logs().log, { changes: recorder.observer });
    const config = Buffer.from('{}');
    await registry.uploads.putWhole('team-a/app', `sha256:${createHash('sha256').update(config).digest('hex')}`, Readable.from([config]));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${createHash('sha256').update(config).digest('hex')}`, size: 2 }, layers: [] }));
    const { digest } = await registry.manifests.put('team-a/app', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json', ['v2'], { actor: { name: 'alice' } });
    const journal = async () => (await Promise.all((await store.days()).map((day) => store.dayIds(day)))).flat();
    expect(await journal()).toHaveLength(2);
    expect(await store.pending('hook')).toHaveLength(2);
    expect((await tagHistory(store, 'team-a/app', 'v2', 10)).map((e) => [e.action, e.target.digest, e.actor.name])).toEqual([['push', digest, 'alice']]);
    await registry.manifests.delete('team-a/app', 'v1', { actor: { name: 'bob' } });
    expect((await tagHistory(store, 'team-a/app', 'v1', 10)).map((e) => [e.action, e.target.digest, e.actor.name])).toEqual([
      ['push', digest, 'alice'],
      ['delete', digest, 'bob'],
    ]);
    await registry.manifests.delete('team-a/app', digest, { actor: { name: 'carol' } });
    expect((await tagHistory(store, 'team-a/app', 'v2', 10)).map((e) => e.action)).toEqual(['push', 'delete']);
    expect(await journal()).toHaveLength(5); // 2 pushes, the tag delete, the manifest delete and its tag v2
  });
});

describe('the build queue and its events', () => {
  it('has the queued event in storage when enqueue returns (a webhook answers after it)', async () => {
    const driver = slowEvents(createMemoryDriver());
    const store = new EventStore(driver, logs().log);
    const recorder = new EventRecorder(store, settings([]), source);
    const queue = new BuildQueue(
      new RecordStore(driver, logs().log),
      () => new Promise(() => {}),
      { concurrency: 1, queueLimit: 10, timeoutMs: 10_000, pollMs: 0, heartbeatMs: 1000, staleMs: 30_000, logMaxBytes: 4096 },
      logs().log,
      (record) => recorder.onBuild!(record, `http://berth/api/builds/${record.id}/logs`),
    );
    const plan = {
      github: 'acme/hello',
      image: 'acme/hello',
      rule: 'default',
      ref: { type: 'branch' as const, name: 'main' },
      sha: 'b'.repeat(40),
      commitMessage: 'm',
      tags: ['latest'],
      context: '',
      dockerfile: 'Dockerfile',
      buildArgs: {},
      trigger: { kind: 'manual' as const, user: 'alice' },
    };
    const [record] = await queue.enqueue([plan]);
    const page = await queryEvents(store, { limit: 10 });
    expect(page.events.map((e) => [e.action, e.build?.id, e.actor.name])).toEqual([['build.queued', record!.id, 'alice']]);
  });
});
