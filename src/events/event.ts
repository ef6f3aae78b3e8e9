/**
 * The event record: what Berth keeps in its journal and queues, and renders for endpoints
 * (formats.ts). Its fields are CNCF Distribution's (notifications/event.go: id, timestamp,
 * action, target, request, actor, source), so the `distribution` format is the record itself;
 * Berth adds `actor.token` (a robot token's id) and `build` beside them.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { ChangeOrigin, RegistryChange } from '../registry/observer.js';
import { newEventId } from './paths.js';

/** What an endpoint subscribes to. */
export type EventCategory = 'push' | 'delete' | 'pull' | 'build';
export const CATEGORIES: readonly EventCategory[] = ['push', 'delete', 'pull', 'build'];

export const BUILD_ACTIONS = ['build.queued', 'build.succeeded', 'build.failed', 'build.cancelled'] as const;
export type BuildAction = (typeof BUILD_ACTIONS)[number];
/** `test`: sent by `berth events test` only, never kept. */
export type EventAction = 'push' | 'delete' | 'pull' | BuildAction | 'test';
export const ACTIONS: readonly EventAction[] = ['push', 'delete', 'pull', ...BUILD_ACTIONS, 'test'];

export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  /** Absent only in test events. */
  repository?: string;
  /** A link to the content (when the request's address is known). */
  url?: string;
  tag?: string;
}

export interface EventActor {
  /** The user (or `cli`, `gc`, `github`, `berth-build`); absent without auth. */
  name?: string;
  /** The id of the robot token used (never its secret). */
  token?: string;
}

export interface EventRequest {
  id: string;
  addr: string;
  host: string;
  method: string;
  useragent: string;
}

export interface EventSource {
  /** This node: host name and port. */
  addr: string;
  /** This process: changes at every start. */
  instanceID: string;
}

export interface BuildDetails {
  id: string;
  state: string;
  github: string;
  ref: { type: string; name: string };
  commit: string;
  tags: string[];
  logUrl: string;
  trigger: 'webhook' | 'manual';
  digest?: string;
  error?: string;
}

export interface EventRecord {
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  /** The request that caused it; absent for commands (`berth rm`, gc) and builds. */
  request?: EventRequest;
  actor: EventActor;
  source: EventSource;
  build?: BuildDetails;
}

export function categoryOf(action: EventAction): EventCategory | undefined {
  if (action === 'test') return undefined;
  return action.startsWith('build.') ? 'build' : (action as EventCategory);
}

/** This process as events name it; `addr` gets the port once the server listens. */
export function newSource(): EventSource {
  return { addr: hostname(), instanceID: randomUUID() };
}

function base(action: EventAction, actor: EventActor, source: EventSource, request?: EventRequest): EventRecord {
  const { id, time } = newEventId();
  return { id, timestamp: time.toISOString(), action, target: {}, ...(request ? { request } : {}), actor: { ...actor }, source: { ...source } };
}

function manifestUrl(origin: ChangeOrigin | undefined, repository: string, digest: string): { url?: string } {
  return origin?.baseUrl ? { url: `${origin.baseUrl}/v2/${repository}/manifests/${digest}` } : {};
}

/** The events of one registry change, in the order receivers get them. */
export function eventsOfChange(change: RegistryChange, origin: ChangeOrigin | undefined, source: EventSource): EventRecord[] {
  const make = (action: EventAction, target: EventTarget): EventRecord => ({ ...base(action, origin?.actor ?? {}, source, origin?.request), target });
  const { repository } = change;
  switch (change.kind) {
    case 'manifest-pushed': {
      const target = { mediaType: change.mediaType, size: change.size, digest: change.digest, repository, ...manifestUrl(origin, repository, change.digest) };
      // One event per tag (`PUT ...?tag=a&tag=b` sets several), as Distribution sends one per tagged push.
      return change.tags.length === 0 ? [make('push', target)] : change.tags.map((tag) => make('push', { ...target, tag }));
    }
    case 'manifest-deleted': {
      const described = change.mediaType ? { mediaType: change.mediaType, size: change.size } : {};
      return [
        make('delete', { ...described, digest: change.digest, repository }),
        ...change.tags.map((tag) => make('delete', { digest: change.digest, repository, tag })),
      ];
    }
    case 'tag-deleted':
      return [make('delete', { ...(change.digest ? { digest: change.digest } : {}), repository, tag: change.tag })];
    case 'blob-deleted':
      return [make('delete', { digest: change.digest, repository })];
  }
}

/** A manifest GET by tag or digest. */
export function pullEvent(
  repository: string,
  reference: string,
  manifest: { digest: string; mediaType: string; size: number },
  origin: ChangeOrigin,
  source: EventSource,
): EventRecord {
  const event = base('pull', origin.actor, source, origin.request);
  event.target = { mediaType: manifest.mediaType, size: manifest.size, digest: manifest.digest, repository, ...manifestUrl(origin, repository, manifest.digest) };
  if (reference !== manifest.digest) event.target.tag = reference;
  return event;
}

/** What events need to know of a build (src/builds/queue/records.ts has the whole record). */
export interface BuildNotice {
  id: string;
  state: string;
  attempt: number;
  github: string;
  image: string;
  ref: { type: string; name: string };
  sha: string;
  tags: string[];
  trigger: { kind: 'webhook' } | { kind: 'manual'; user?: string };
  digest?: string;
  error?: string;
}

/** The event of a build entering `state`, or undefined for states nobody is told of (running, queued again). */
export function buildEvent(build: BuildNotice, logUrl: string, source: EventSource): EventRecord | undefined {
  let action: BuildAction;
  if (build.state === 'queued' && build.attempt === 1) action = 'build.queued';
  else if (build.state === 'succeeded' || build.state === 'failed' || build.state === 'cancelled') action = `build.${build.state}`;
  else return undefined;
  const actor: EventActor = build.trigger.kind === 'manual' ? (build.trigger.user ? { name: build.trigger.user } : {}) : { name: 'github' };
  const event = base(action, actor, source);
  event.target = { repository: build.image, ...(build.digest ? { digest: build.digest } : {}), ...(build.tags[0] ? { tag: build.tags[0] } : {}) };
  event.build = {
    id: build.id,
    state: build.state,
    github: build.github,
    ref: build.ref,
    commit: build.sha,
    tags: build.tags,
    logUrl,
    trigger: build.trigger.kind,
    ...(build.digest ? { digest: build.digest } : {}),
    ...(build.error ? { error: build.error } : {}),
  };
  return event;
}

/** What `berth events test` sends: shaped like any event, with action `test`. */
export function testEvent(source: EventSource, actor: EventActor): EventRecord {
  return base('test', actor, source);
}
