/**
 * Events: signed notifications that are never lost, and the audit trail of who did what.
 *
 *   registry change (push, delete: src/registry/observer.ts, told with its ChangeOrigin: who and
 *   which request, src/http/origin.ts), manifest pull (the GET route, only when an endpoint wants
 *   pulls), build queued/finished (src/builds/queue), `berth rm` (actor cli), gc (actor gc)
 *     -> event.ts: the event record (Distribution's fields: id, timestamp, action, target,
 *        request, actor, source; and build), one per tag
 *     -> recorder.ts: placed and written by store.ts before the caller answers:
 *          /_berth/events/journal/<day>/<id>                   the audit trail
 *          /_berth/events/tags/<repo>/_tags/<tag>/<id>         the tag's history
 *          /_berth/events/queues/<endpoint>/<id>               per endpoint that wants it
 *        (paths.ts names every file)
 *     -> delivery.ts, per endpoint, on the one replica holding its lease (lease.ts: terms taken
 *        with putContentIfAbsent): the queue oldest first, one event per POST (sender.ts; body
 *        and HMAC signature by formats.ts: distribution or cloudevents), removed on 2xx; on
 *        failure a capped exponential backoff kept in storage (survives restarts); the oldest
 *        dropped past `backlog`
 *     -> retention.ts prunes old days, tag entries and queued events once a day (one replica)
 *   read back: query.ts -> api.ts (`GET /api/events`, `GET /api/repositories/<name>/tags/<tag>/history`)
 *   and cli.ts (`berth events`, `berth events test|status`, `berth tag history`).
 *
 * Delivery is at least once: an event is removed after its 2xx, so a crash in between, or a lease
 * changing hands mid-delivery, sends it again; receivers dedupe by event id. Order holds per
 * endpoint for the events of one replica; events of two replicas in the same instant may
 * interleave either way.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { AppState } from '../http/index.js';
import { createEventsRouter } from './api.js';
import { type NotificationsConfig, timings } from './config.js';
import { Deliverer, type DeliveryStats } from './delivery.js';
import { newSource } from './event.js';
import { Lease } from './lease.js';
import { dayOf } from './paths.js';
import { EventRecorder } from './recorder.js';
import { lastPush } from './query.js';
import { prune } from './retention.js';
import { EventStore } from './store.js';

export type { NotificationsConfig } from './config.js';

export interface EventsModule {
  recorder: EventRecorder;
  /** `/api/events` and tag histories. */
  router: Router<AppState>;
  /** Who pushed a tag last (`actor.name`), when the journal kept it: for the console's tag lists. */
  pusher(repository: string, tag: string): Promise<string | undefined>;
  /** Starts delivery and pruning once the server listens at `url`. */
  start(url: string): void;
  /** Stops delivering and gives up this replica's leases (another replica takes over at once). */
  stop(): Promise<void>;
  /** Deliveries by this replica since it started, per endpoint (for metrics). */
  stats(): Record<string, DeliveryStats>;
}

export interface EventsDeps {
  driver: StorageDriver;
  log: Logger;
}

const SWEEP_CHECK_MS = 3600 * 1000;
const FIRST_SWEEP_MS = 60 * 1000;

/** A recorder for a command that changes storage directly (`berth rm`, gc): writes, never delivers. */
export function commandRecorder(config: NotificationsConfig, driver: StorageDriver, log: Logger): EventRecorder {
  return new EventRecorder(new EventStore(driver, log), config, newSource());
}

export function createEvents(config: NotificationsConfig, deps: EventsDeps): EventsModule {
  const log = deps.log.child({ module: 'events' });
  const times = timings(config);
  const store = new EventStore(deps.driver, log);
  const source = newSource();
  const replica = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const deliverers = new Map(
    config.endpoints.map((endpoint) => [
      endpoint.name,
      new Deliverer(endpoint, store, new Lease(deps.driver, endpoint.name, replica, times.leaseMs), { ...times, backlog: config.backlog }, log),
    ]),
  );
  const recorder = new EventRecorder(store, config, source, (names) => {
    for (const name of names) deliverers.get(name)?.kick();
  });
  let first: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;

  /** The pruning under way, if any: stop() waits for it (it writes to storage). */
  let sweeping: Promise<void> = Promise.resolve();
  const sweep = (): void => {
    sweeping = sweeping
      .then(async () => {
        if (await store.claimSweep(dayOf(new Date()), replica)) await prune(store, times.retentionMs, log);
      })
      .catch((err: unknown) => log.warn({ err }, 'event pruning failed'));
  };

  return {
    recorder,
    router: createEventsRouter(store),
    pusher: async (repository, tag) => {
      const event = await lastPush(store, repository, tag);
      return event?.actor.token ? `${event.actor.name ?? '?'} (token ${event.actor.token})` : event?.actor.name;
    },
    start(url: string) {
      source.addr = `${hostname()}:${new URL(url).port}`;
      for (const endpoint of config.endpoints) {
        if (!endpoint.secret) log.warn({ endpoint: endpoint.name }, 'endpoint has no secret: its deliveries are not signed (notifications.endpoints[].secret)');
      }
      for (const deliverer of deliverers.values()) deliverer.start();
      first = setTimeout(sweep, FIRST_SWEEP_MS).unref();
      sweeper = setInterval(sweep, SWEEP_CHECK_MS).unref();
    },
    async stop() {
      clearTimeout(first);
      clearInterval(sweeper);
      await Promise.all([sweeping, ...[...deliverers.values()].map((deliverer) => deliverer.stop())]);
    },
    stats() {
      return Object.fromEntries([...deliverers].map(([name, deliverer]) => [name, { ...deliverer.stats }]));
    },
  };
}
