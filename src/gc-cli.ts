/**
 * `berth gc [--dry-run] [--delete-untagged] [--grace 1h] [--upload-ttl 24h] [--verbose | --json]
 * [--config FILE]`: runs on the storage directly (no server needed), safe while Berth serves.
 * Defaults come from the config's `gc:` section; flags win.
 */
import { parseArgs } from 'node:util';
import type { StorageDriver } from '../storage-drivers/driver.js';
import { commandConfig, durationFlag, UsageError } from './cli-util.js';
import type { Config } from './config.js';
import { commandRecorder } from './events/index.js';
import { createLogger } from './log.js';
import { evictUnpulled } from './proxy/evict.js';
import { collectGarbage, type GcItem, type GcReport } from './registry/gc.js';
import type { ChangeObserver } from './registry/observer.js';
import { Registry } from './registry/registry.js';
import { createStorageDriver } from './storage.js';

export const GC_USAGE = `usage: berth gc [options]

Deletes blob bytes no manifest references any more, layer links no manifest needs, and abandoned
uploads; with --delete-untagged also the manifests no tag reaches (indexes keep their children,
and the signatures and SBOMs of a kept image stay). First, cached manifests of pull-through caches
not pulled for their proxies[].evictAfter are evicted. Safe while Berth serves: anything younger
than the grace period is kept.

options:
  --dry-run           report what would go, delete nothing
  --delete-untagged   also delete untagged manifests (default: gc.deleteUntagged)
  --grace DURATION    keep anything younger (default: gc.grace, 1h)
  --upload-ttl DURATION
                      uploads started longer ago are abandoned (default: gc.uploadTtl, 24h)
  --verbose           one line per thing deleted (or that would be)
  --json              the report and every item as JSON
  --config FILE       config file (its storage is collected)
`;

function describeItem(item: GcItem): string {
  switch (item.kind) {
    case 'manifest':
      return `manifest ${item.repository}@${item.digest}`;
    case 'layer-link':
      return `layer link ${item.repository}@${item.digest}`;
    case 'upload':
      return `upload ${item.repository} ${item.upload}`;
    case 'blob':
      return `blob ${item.digest} (${item.bytes} bytes)`;
  }
}

function summary(report: GcReport, evicted: number, dryRun: boolean, grace: string): string {
  const verb = dryRun ? 'would delete' : 'deleted';
  const held = report.heldBack;
  const lines = [
    ...(evicted > 0 ? [`${dryRun ? 'would evict' : 'evicted'}: ${evicted} cached manifests not pulled for their proxy's evictAfter`] : []),
    `${report.repositories} repositories, ${report.manifests} manifests kept, ${report.blobsKept} blobs kept`,
    `${verb}: ${report.manifestsDeleted} untagged manifests, ${report.blobsDeleted} blobs (${report.bytesFreed} bytes), ${report.linksDeleted} unreferenced layer links, ${report.uploadsDeleted} abandoned uploads`,
  ];
  if (held.manifests + held.links + held.blobs > 0) {
    lines.push(`held back by the grace period (${grace}): ${held.manifests} manifests, ${held.links} layer links, ${held.blobs} blobs (${held.bytes} bytes) younger than ${grace}; they go in a later run`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Untagged manifests gc deleted, as delete events (actor `gc`). Recorded once gc is done: a gc
 * stopped midway leaves its deletions so far without events.
 */
async function recordDeletions(observer: ChangeObserver | undefined, deleted: GcItem[]): Promise<void> {
  for (const item of deleted) {
    await observer?.({ kind: 'manifest-deleted', repository: item.repository!, digest: item.digest!, tags: [] }, { actor: { name: 'gc' } });
  }
}

export async function runGcCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'delete-untagged': { type: 'boolean' },
      grace: { type: 'string' },
      'upload-ttl': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(GC_USAGE);
    return;
  }
  if (values.json && values.verbose) throw new UsageError('--json and --verbose: choose one');
  const config = commandConfig(values.config);
  const grace = values.grace ?? config.gc.grace;
  const dryRun = values['dry-run'];
  const items: GcItem[] = [];
  const driver = await createStorageDriver(config.storage);
  const deleted: GcItem[] = [];
  const observer = commandRecorder(config.notifications, driver, createLogger('silent')).observer;
  const registry = new Registry(driver, config.limits, createLogger('silent'), { changes: observer });
  const evictedItems: { repository: string; digest: string }[] = [];
  const eviction = await evictUnpulled(registry, config.proxies, {
    dryRun,
    onItem: (item) => {
      evictedItems.push(item);
      if (values.verbose) process.stdout.write(`${dryRun ? 'would evict' : 'evicted'} manifest ${item.repository}@${item.digest}\n`);
    },
  });
  const report = await collectGarbage(driver, {
    dryRun,
    graceMs: durationFlag(grace, '--grace'),
    uploadTtlMs: durationFlag(values['upload-ttl'] ?? config.gc.uploadTtl, '--upload-ttl'),
    deleteUntagged: values['delete-untagged'] ?? config.gc.deleteUntagged,
    onItem: (item) => {
      if (item.kind === 'manifest' && !dryRun) deleted.push(item);
      if (values.json) items.push(item);
      else if (values.verbose) process.stdout.write(`${dryRun ? 'would delete' : 'deleted'} ${describeItem(item)}\n`);
    },
  });
  await recordDeletions(observer, deleted);
  process.stdout.write(
    values.json ? `${JSON.stringify({ dryRun, grace, ...report, evicted: evictedItems, items })}\n` : summary(report, eviction.manifests, dryRun, grace),
  );
}
