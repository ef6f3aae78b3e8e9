/**
 * Deletes finished builds (record and log) and webhook deliveries older than
 * `builds.retentionDays`. Every replica may sweep; deleting twice is harmless.
 */
import type { Logger } from 'pino';
import { buildIdTime } from './paths.js';
import { isFinished, type RecordStore } from './records.js';

export async function sweep(store: RecordStore, retentionDays: number, log: Logger, now = Date.now()): Promise<{ builds: number; deliveries: number }> {
  const cutoff = now - retentionDays * 24 * 3600 * 1000;
  let builds = 0;
  let deliveries = 0;
  for (const id of await store.ids()) {
    if (buildIdTime(id).getTime() >= cutoff) continue; // ids carry their creation time: no read needed
    const record = await store.get(id);
    const finished = record ? Date.parse(record.finishedAt ?? record.createdAt) : 0;
    if (record && (!isFinished(record.state) || finished >= cutoff)) continue;
    await store.deleteBuild(id);
    builds += 1;
  }
  for (const delivery of await store.deliveries()) {
    if (delivery.modified.getTime() >= cutoff) continue;
    await store.deleteDelivery(delivery.id);
    deliveries += 1;
  }
  if (builds + deliveries > 0) log.info({ builds, deliveries, retentionDays }, 'old builds and deliveries deleted');
  return { builds, deliveries };
}
