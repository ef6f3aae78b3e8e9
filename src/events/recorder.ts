/**
 * The write side: events made from registry changes, pulls and builds, placed (the journal, and
 * the queue of each endpoint whose `events` and `repositories` want them) and written to storage
 * before the caller goes on, so before the request that caused them is answered. The server and
 * the commands that change storage directly (`berth rm`, `berth gc`) each have one.
 */
import type { PullObserver } from '../api/deps.js';
import type { ChangeObserver } from '../registry/observer.js';
import { compileGlob, type Glob } from '../util/index.js';
import type { NotificationsConfig } from './config.js';
import { type BuildNotice, buildEvent, categoryOf, type EventCategory, eventsOfChange, type EventRecord, type EventSource, pullEvent } from './event.js';
import type { EventStore, Placement } from './store.js';

interface Subscription {
  name: string;
  events: ReadonlySet<EventCategory>;
  repositories: Glob[];
}

export class EventRecorder {
  private readonly subscriptions: Subscription[];

  constructor(
    private readonly store: EventStore,
    private readonly config: NotificationsConfig,
    readonly source: EventSource,
    /** Told which endpoints got new events (their deliverers look at once). */
    private readonly onQueued: (endpoints: string[]) => void = () => {},
  ) {
    this.subscriptions = config.endpoints.map((e) => ({ name: e.name, events: new Set(e.events), repositories: e.repositories.map(compileGlob) }));
  }

  /** Whether anything is kept at all (the journal is on, or an endpoint is configured). */
  get active(): boolean {
    return this.config.journal || this.subscriptions.length > 0;
  }

  /** Whether some endpoint wants pulls: otherwise pulls are not recorded at all. */
  get wantsPulls(): boolean {
    return this.subscriptions.some((s) => s.events.has('pull'));
  }

  placement(event: EventRecord): Placement {
    const category = categoryOf(event.action);
    const repository = event.target.repository ?? '';
    const endpoints = category ? this.subscriptions.filter((s) => s.events.has(category) && s.repositories.some((g) => g.test(repository))).map((s) => s.name) : [];
    return { journal: this.config.journal && category !== undefined, endpoints };
  }

  async record(events: EventRecord[]): Promise<void> {
    const placed = events.map((event) => ({ event, placement: this.placement(event) })).filter(({ placement }) => placement.journal || placement.endpoints.length > 0);
    if (placed.length === 0) return;
    await this.store.write(placed);
    const endpoints = new Set(placed.flatMap(({ placement }) => placement.endpoints));
    if (endpoints.size > 0) this.onQueued([...endpoints]);
  }

  /** For the registry (src/registry/observer.ts); undefined when nothing is kept. */
  get observer(): ChangeObserver | undefined {
    return this.active ? (change, origin) => this.record(eventsOfChange(change, origin, this.source)) : undefined;
  }

  /** For the manifest GET route; undefined unless an endpoint wants pulls (then a pull costs nothing more). */
  get onPull(): PullObserver | undefined {
    return this.wantsPulls ? (repository, reference, manifest, origin) => this.record([pullEvent(repository, reference, manifest, origin, this.source)]) : undefined;
  }

  /** For the build queue: a build entered a state. Undefined when nothing is kept. */
  get onBuild(): ((build: BuildNotice, logUrl: string) => Promise<void>) | undefined {
    if (!this.active) return undefined;
    return async (build, logUrl) => {
      const event = buildEvent(build, logUrl, this.source);
      if (event) await this.record([event]);
    };
  }
}
