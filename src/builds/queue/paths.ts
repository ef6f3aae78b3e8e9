/**
 * Every storage path of the builds, in this one module (beside src/registry/layout.ts, which
 * draws the registry's tree and leaves `/_berth/` to Berth's own state).
 *
 *   /_berth/builds/<id>/record.json             the build: plan, state, result (JSON)
 *   /_berth/builds/<id>/log                     its log, rewritten whole while it grows
 *   /_berth/builds/<id>/claims/<attempt>        taken once (putContentIfAbsent) by the replica
 *                                               that runs the attempt, or by a cancel of a
 *                                               queued build: whoever holds it decides
 *   /_berth/builds/<id>/claims/<attempt>-recover taken by the one replica that re-queues an
 *                                               attempt whose runner stopped beating
 *   /_berth/builds/<id>/cancel                  a cancel request for the replica running it
 *   /_berth/builds/active/<id>                  index of queued and running builds (a cache of
 *                                               the records, rebuilt from them at start)
 *   /_berth/builds/deliveries/<delivery id>     a GitHub delivery seen (claimed once)
 *
 * Build ids start with a digit (`20250102-030405123-a1b2c3`), so they never meet `active` or
 * `deliveries`, and sort by creation time.
 */
import { randomBytes } from 'node:crypto';
import { BERTH_STATE } from '../../registry/layout.js';

export const BUILDS = `${BERTH_STATE}/builds`;
export const ACTIVE = `${BUILDS}/active`;
export const DELIVERIES = `${BUILDS}/deliveries`;

export const BUILD_ID = /^\d{8}-\d{9}-[0-9a-f]{6}$/;
/** GitHub's delivery ids are GUIDs; anything a driver path can hold is accepted. */
export const DELIVERY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Ids made by this process are strictly increasing, so builds queued together run in order. */
let lastMs = 0;

export function newBuildId(now = new Date()): string {
  const ms = Math.max(now.getTime(), lastMs + 1);
  lastMs = ms;
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.123Z
  const day = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 23).replaceAll(':', '').replace('.', '');
  return `${day}-${time}-${randomBytes(3).toString('hex')}`;
}

/** When a build id was made (from its name, without reading anything). */
export function buildIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{3})/.exec(id);
  if (!m) return new Date(0);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!));
}

export const buildDir = (id: string): string => `${BUILDS}/${id}`;
export const recordPath = (id: string): string => `${buildDir(id)}/record.json`;
export const logPath = (id: string): string => `${buildDir(id)}/log`;
export const claimPath = (id: string, attempt: number): string => `${buildDir(id)}/claims/${attempt}`;
export const recoverClaimPath = (id: string, attempt: number): string => `${buildDir(id)}/claims/${attempt}-recover`;
export const cancelPath = (id: string): string => `${buildDir(id)}/cancel`;
export const activePath = (id: string): string => `${ACTIVE}/${id}`;
export const deliveryPath = (delivery: string): string => `${DELIVERIES}/${delivery}`;
