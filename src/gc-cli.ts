/** `berth gc [--dry-run] [--grace 1h] [--upload-ttl 24h] [--config FILE]`. */
import { parseArgs } from 'node:util';
import { commandConfig, UsageError } from './cli-util.js';
import { parseDuration } from './util/index.js';
import { collectGarbage } from './registry/gc.js';
import { createStorageDriver } from './storage.js';

function duration(value: string, flag: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag}: not a duration (like 30m, 1h, 7d): ${value}`);
  return ms;
}

export async function runGcCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      grace: { type: 'string', default: '1h' },
      'upload-ttl': { type: 'string', default: '24h' },
    },
    strict: true,
  });
  const config = commandConfig(values.config);
  const report = await collectGarbage(await createStorageDriver(config.storage), {
    dryRun: values['dry-run'],
    graceMs: duration(values.grace, '--grace'),
    uploadTtlMs: duration(values['upload-ttl'], '--upload-ttl'),
  });
  const verb = values['dry-run'] ? 'would delete' : 'deleted';
  process.stdout.write(
    `${report.repositories} repositories, ${report.manifests} manifests, ${report.blobsKept} blobs kept\n` +
      `${verb}: ${report.blobsDeleted} blobs (${report.bytesFreed} bytes), ${report.linksDeleted} unreferenced layer links, ${report.uploadsDeleted} abandoned uploads\n`,
  );
}
