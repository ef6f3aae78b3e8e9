/**
 * Every storage path of the events, in this one module (beside src/registry/layout.ts, which
 * draws the registry's tree and leaves `/_berth/` to Berth's own state).
 *
 *   /_berth/events/journal/<day>/<id>                     every event, whole (JSON): the audit
 *                                                         trail; a day (YYYYMMDD, UTC) is pruned whole
 *   /_berth/events/tags/<repository>/_tags/<tag>/<id>     the push and delete events of one tag,
 *                                                         whole: its history
 *   /_berth/events/queues/<endpoint>/<id>                 an event waiting for delivery to an
 *                                                         endpoint (whole), deleted once delivered
 *   /_berth/events/endpoints/<endpoint>/state.json        failures in a row, the next attempt, the
 *                                                         last error: backoff survives restarts
 *   /_berth/events/endpoints/<endpoint>/leases/<term>     the replica delivering to the endpoint;
 *                                                         each term is taken once (putContentIfAbsent)
 *   /_berth/events/sweeps/<day>                           the one replica pruning on that day
 *
 * Event ids start with their UTC time to the millisecond (`20250102-030405123-0000-a1b2c3d4`: day,
 * time, a sequence within the millisecond, random), so names sort by time and say when without
 * a read. Repository names cannot have a part starting with `_`, so `_tags` never meets one.
 */
import { randomBytes } from 'node:crypto';
import { BERTH_STATE } from '../registry/layout.js';

export const EVENTS = `${BERTH_STATE}/events`;
export const JOURNAL = `${EVENTS}/journal`;
export const TAGS = `${EVENTS}/tags`;
export const QUEUES = `${EVENTS}/queues`;
export const ENDPOINTS = `${EVENTS}/endpoints`;
export const SWEEPS = `${EVENTS}/sweeps`;
/** The marker folder under a repository's path in TAGS. */
export const TAG_MARKER = '_tags';

export const EVENT_ID = /^\d{8}-\d{9}-\d{4}-[0-9a-f]{8}$/;
export const DAY = /^\d{8}$/;

let lastMs = 0;
let sequence = 0;

/**
 * A new event id and its time. Ids made by this process are strictly increasing (a sequence
 * orders those of one millisecond), so one replica's events sort in the order they happened.
 */
export function newEventId(now = Date.now()): { id: string; time: Date } {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 9999) {
    lastMs += 1; // 10 000 events in one millisecond: borrow the next one
    sequence = 0;
  }
  const time = new Date(lastMs);
  return { id: `${idPrefix(time)}-${String(sequence).padStart(4, '0')}-${randomBytes(4).toString('hex')}`, time };
}

/** `YYYYMMDD-HHMMSSmmm` of a time: every id made at that millisecond starts with it, and sorts after older ones. */
export function idPrefix(time: Date): string {
  const iso = time.toISOString(); // 2025-01-02T03:04:05.123Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 23).replaceAll(':', '').replace('.', '')}`;
}

/** The UTC day (`YYYYMMDD`) of an id or a time. */
export function dayOf(idOrTime: string | Date): string {
  return typeof idOrTime === 'string' ? idOrTime.slice(0, 8) : idPrefix(idOrTime).slice(0, 8);
}

export const journalDay = (day: string): string => `${JOURNAL}/${day}`;
export const journalPath = (id: string): string => `${journalDay(dayOf(id))}/${id}`;
export const tagFolder = (repository: string, tag: string): string => `${TAGS}/${repository}/${TAG_MARKER}/${tag}`;
export const tagEntryPath = (repository: string, tag: string, id: string): string => `${tagFolder(repository, tag)}/${id}`;
export const queueFolder = (endpoint: string): string => `${QUEUES}/${endpoint}`;
export const queuePath = (endpoint: string, id: string): string => `${queueFolder(endpoint)}/${id}`;
export const statePath = (endpoint: string): string => `${ENDPOINTS}/${endpoint}/state.json`;
export const leaseFolder = (endpoint: string): string => `${ENDPOINTS}/${endpoint}/leases`;
export const leasePath = (endpoint: string, term: number): string => `${leaseFolder(endpoint)}/${String(term).padStart(12, '0')}`;
export const sweepPath = (day: string): string => `${SWEEPS}/${day}`;
