/**
 * The audit trail read back: events from the journal, newest first, filtered by repository
 * pattern, action and time, one page at a time; and a tag's history. Event file names carry their
 * time, so days and ids outside the window are skipped without a read; the work of one page is
 * bounded (MAX_SCANNED reads), and a page cut short by it says where to go on (`next`).
 */
import { compileGlob } from '../util/index.js';
import { ACTIONS, CATEGORIES, categoryOf, type EventRecord } from './event.js';
import { dayOf, EVENT_ID, idPrefix } from './paths.js';
import { type EventStore, inBatches } from './store.js';

export interface EventQuery {
  /** A repository pattern (`*` for any characters). */
  repository?: string;
  /** A category (push, delete, pull, build) or an exact action (build.failed). */
  action?: string;
  /** Only events at or after this time. */
  since?: Date;
  /** Only events older than this id (the `next` of the page before). */
  before?: string;
  limit: number;
  /** Whether the caller may see events of a repository; undefined: all. */
  canRead?: (repository: string) => Promise<boolean> | boolean;
}

export interface EventPage {
  /** Newest first. */
  events: EventRecord[];
  /** More may be older than this id: ask again with `before: next`. */
  next?: string;
}

/** Journal files read for one page at most, whatever matches. */
export const MAX_SCANNED = 2000;

export class QueryError extends Error {}

/** Checks the parts of a query that come from people; the message says what is wrong. */
export function checkQuery(query: { repository?: string; action?: string; before?: string }): void {
  if (query.repository !== undefined && (query.repository === '' || query.repository.length > 255 || !/^[a-z0-9._/*-]+$/.test(query.repository))) {
    throw new QueryError('repository: a repository name or pattern (a-z, 0-9, . _ - / and * for any characters)');
  }
  if (query.action !== undefined && !(CATEGORIES as readonly string[]).includes(query.action) && !(ACTIONS as readonly string[]).includes(query.action)) {
    throw new QueryError(`action: one of ${[...CATEGORIES, ...ACTIONS.filter((a) => a.includes('.'))].join(', ')}`);
  }
  if (query.before !== undefined && !EVENT_ID.test(query.before)) throw new QueryError('last: an event id');
}

function actionMatches(wanted: string, event: EventRecord): boolean {
  return event.action === wanted || categoryOf(event.action) === wanted;
}

export async function queryEvents(store: EventStore, query: EventQuery): Promise<EventPage> {
  checkQuery(query);
  const pattern = query.repository !== undefined ? compileGlob(query.repository) : undefined;
  const sincePrefix = query.since ? idPrefix(query.since) : undefined;
  const sinceDay = query.since ? dayOf(query.since) : undefined;
  const allowed = new Map<string, Promise<boolean>>();
  const canRead = (repository: string): Promise<boolean> => {
    let known = allowed.get(repository);
    if (!known) allowed.set(repository, (known = Promise.resolve(query.canRead ? query.canRead(repository) : true)));
    return known;
  };
  const events: EventRecord[] = [];
  let scanned = 0;
  for (const day of (await store.days()).reverse()) {
    if (sinceDay && day < sinceDay) break;
    if (query.before && day > dayOf(query.before)) continue;
    const ids = (await store.dayIds(day)).reverse().filter((id) => (!query.before || id < query.before) && (!sincePrefix || id >= sincePrefix));
    for (let i = 0; i < ids.length; i += 32) {
      const chunk = ids.slice(i, i + 32);
      const read = await inBatches(chunk, (id) => store.readJournal(id));
      for (const [j, event] of read.entries()) {
        scanned += 1;
        const repository = event?.target.repository;
        if (event && repository && (!pattern || pattern.test(repository)) && (!query.action || actionMatches(query.action, event)) && (await canRead(repository))) {
          events.push(event);
          if (events.length === query.limit) return { events, next: event.id };
        }
        if (scanned >= MAX_SCANNED) return { events, next: chunk[j]! };
      }
    }
  }
  return { events };
}

/** Every push and delete of one tag that is still kept, oldest first (the newest `limit`). */
export async function tagHistory(store: EventStore, repository: string, tag: string, limit: number): Promise<EventRecord[]> {
  const ids = (await store.tagIds(repository, tag)).slice(-limit);
  const read = await inBatches(ids, (id) => store.readTagEntry(repository, tag, id));
  return read.filter((event): event is EventRecord => event !== undefined);
}

/** The newest push of a tag that is still kept (who pushed it, and when), or undefined. */
export async function lastPush(store: EventStore, repository: string, tag: string): Promise<EventRecord | undefined> {
  const ids = await store.tagIds(repository, tag);
  for (let i = ids.length - 1; i >= 0 && i >= ids.length - 5; i -= 1) {
    const event = await store.readTagEntry(repository, tag, ids[i]!);
    if (event?.action === 'push') return event;
    if (event) return undefined; // deleted since its last push
  }
  return undefined;
}
