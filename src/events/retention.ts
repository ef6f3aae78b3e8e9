/**
 * Pruning: events older than `notifications.retention` go from the journal (whole days, so an
 * event is kept at least the retention and less than a day more), from tag histories, and from
 * queues (an endpoint dead that long, or removed from the config, loses them). Once a day, by
 * the one replica that claims the day's sweep.
 */
import type { Logger } from 'pino';
import { dayOf, idPrefix, journalDay, queuePath, sweepPath } from './paths.js';
import { type EventStore, inBatches } from './store.js';

export interface PruneReport {
  days: number;
  tagEntries: number;
  queued: number;
}

export async function prune(store: EventStore, retentionMs: number, log: Logger, now = Date.now()): Promise<PruneReport> {
  const cutoff = new Date(now - retentionMs);
  const cutoffPrefix = idPrefix(cutoff);
  const cutoffDay = dayOf(cutoff);
  const report: PruneReport = { days: 0, tagEntries: 0, queued: 0 };
  for (const day of await store.days()) {
    if (day >= cutoffDay) break; // the cutoff's own day still holds younger events
    await store.deleteIfPresent(journalDay(day));
    report.days += 1;
  }
  for (const { folder } of await store.tagFolders()) {
    const old = (await store.ids(folder)).filter((id) => id < cutoffPrefix);
    await inBatches(old, (id) => store.deleteIfPresent(`${folder}/${id}`));
    report.tagEntries += old.length;
  }
  for (const endpoint of await store.queuedEndpoints()) {
    const old = (await store.pending(endpoint)).filter((id) => id < cutoffPrefix);
    await inBatches(old, (id) => store.deleteIfPresent(queuePath(endpoint, id)));
    report.queued += old.length;
    if (old.length > 0) log.warn({ endpoint, dropped: old.length }, 'undelivered events older than notifications.retention dropped');
  }
  for (const day of await store.sweepDays()) if (day < cutoffDay) await store.deleteIfPresent(sweepPath(day));
  if (report.days + report.tagEntries + report.queued > 0) log.info({ ...report, before: cutoff.toISOString() }, 'old events pruned');
  return report;
}
