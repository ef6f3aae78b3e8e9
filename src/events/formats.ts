/**
 * An event as an endpoint receives it: the body, its Content-Type, and the signature over it.
 *
 * - `distribution`: CNCF Distribution's envelope, `{"events": [event]}` with
 *   `application/vnd.docker.distribution.events.v1+json` and its field names (target.length
 *   repeats target.size, as Distribution keeps it for old receivers). Receivers written for
 *   Distribution work unchanged.
 * - `cloudevents`: CloudEvents 1.0, structured mode (one event per request,
 *   `application/cloudevents+json`): `type` is `berth.<action>` (`berth.push`,
 *   `berth.build.failed`), `source` the repository's API path, `subject` the tag, digest or build
 *   id, and `data` the same event as in the distribution format.
 *
 * One event per request in both: delivery is in order and acknowledged one event at a time.
 * The signature is HMAC-SHA256 of the exact body bytes with the endpoint's secret, in
 * `X-Berth-Signature-256: sha256=<hex>` (GitHub's scheme, under Berth's name).
 */
import { createHmac } from 'node:crypto';
import type { EventFormat } from './config.js';
import type { EventRecord } from './event.js';

export const DISTRIBUTION_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json; charset=utf-8';
export const SIGNATURE_HEADER = 'X-Berth-Signature-256';

/** The event with Distribution's field names and order. */
export function distributionEvent(event: EventRecord): Record<string, unknown> {
  const { mediaType, size, digest, repository, url, tag } = event.target;
  const target = {
    ...(mediaType !== undefined ? { mediaType } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(digest !== undefined ? { digest } : {}),
    ...(size !== undefined ? { length: size } : {}),
    ...(repository !== undefined ? { repository } : {}),
    ...(url !== undefined ? { url } : {}),
    ...(tag !== undefined ? { tag } : {}),
  };
  return {
    id: event.id,
    timestamp: event.timestamp,
    action: event.action,
    target,
    request: event.request ?? {},
    actor: event.actor,
    source: event.source,
    ...(event.build ? { build: event.build } : {}),
  };
}

export function cloudEvent(event: EventRecord): Record<string, unknown> {
  const { repository, tag, digest } = event.target;
  const subject = event.build?.id ?? tag ?? digest;
  return {
    specversion: '1.0',
    id: event.id,
    source: repository ? `/v2/${repository}` : '/berth',
    type: `berth.${event.action}`,
    ...(subject ? { subject } : {}),
    time: event.timestamp,
    datacontenttype: 'application/json',
    data: distributionEvent(event),
  };
}

export function render(format: EventFormat, event: EventRecord): { contentType: string; body: Buffer } {
  if (format === 'cloudevents') return { contentType: CLOUDEVENTS_MEDIA_TYPE, body: Buffer.from(JSON.stringify(cloudEvent(event))) };
  return { contentType: DISTRIBUTION_MEDIA_TYPE, body: Buffer.from(JSON.stringify({ events: [distributionEvent(event)] })) };
}

/** `sha256=<hex>`: HMAC-SHA256 of `body` with `secret`. */
export function signature(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
