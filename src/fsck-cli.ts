/**
 * `berth fsck [--repair] [--quick] [--json] [--grace 1h] [--upload-ttl 24h] [--config FILE]`:
 * checks the storage directly (no server needed; safe while Berth serves) with the checks of
 * src/registry/fsck.ts. Exit 0 when clean, 1 when problems remain (each printed with its path
 * and digest). Progress goes to stderr when it is a terminal.
 */
import { parseArgs } from 'node:util';
import { commandConfig, durationFlag } from './cli-util.js';
import { cacheRepositoryTest } from './proxy/state.js';
import { checkStorage, type FsckProgress, type FsckReport, type Problem } from './registry/fsck.js';
import { createStorageDriver, describeStorage } from './storage.js';

export const FSCK_USAGE = `usage: berth fsck [options]

Checks the storage: blobs whose bytes do not hash to their digest, links to missing blobs or
manifests, manifests that do not parse or name what the repository lacks, tags naming missing
manifests, referrers of missing manifests, orphan uploads, Berth state that does not parse.
Safe while Berth serves. Exit status 0 when clean, 1 when problems were found.

options:
  --repair            remove what can only be garbage: dangling links and tags, orphan and
                      abandoned uploads (never blob bytes, never a manifest); nothing younger than
                      the grace period is touched
  --quick             do not re-hash blob bytes
  --json              the report and every problem as JSON
  --grace DURATION    leave anything younger alone (default: gc.grace, 1h)
  --upload-ttl DURATION
                      uploads started longer ago are abandoned (default: gc.uploadTtl, 24h)
  --config FILE       config file (its storage is checked)
`;

function describe(problem: Problem): string {
  const where = [problem.repository, problem.digest].filter(Boolean).join('@');
  const state = problem.repaired ? ' (removed)' : problem.repairable ? ' (--repair removes it)' : '';
  return `${problem.severity} ${problem.kind} ${problem.path}${where ? ` ${where}` : ''}: ${problem.message}${state}`;
}

function summary(report: FsckReport, storage: string): string {
  const checked = `checked ${storage}: ${report.blobs} blobs (${report.bytesHashed} bytes re-hashed), ${report.repositories} repositories, ${report.manifests} manifests, ${report.tags} tags, ${report.uploads} uploads`;
  const outcome = report.errors === 0 ? 'clean' : `${report.errors} problem${report.errors === 1 ? '' : 's'}`;
  const extra = [report.warnings ? `${report.warnings} warning${report.warnings === 1 ? '' : 's'}` : '', report.repaired ? `${report.repaired} removed` : ''].filter(Boolean);
  return `${checked}\n${outcome}${extra.length ? ` (${extra.join(', ')})` : ''}\n`;
}

/** A one-line progress display on a terminal, redrawn at most every 100 ms. */
function progressLine(stream: NodeJS.WriteStream): { update: (p: FsckProgress) => void; clear: () => void } {
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.done !== p.total) return;
      last = now;
      shown = true;
      stream.write(`\r\x1b[Kchecking ${p.phase}: ${p.done}/${p.total}`);
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}

export async function runFsckCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      repair: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      grace: { type: 'string' },
      'upload-ttl': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(FSCK_USAGE);
    return;
  }
  const config = commandConfig(values.config);
  const progress = !values.json && process.stderr.isTTY ? progressLine(process.stderr) : undefined;
  const driver = await createStorageDriver(config.storage);
  const report = await checkStorage(driver, {
    isCache: cacheRepositoryTest(config.proxies, driver),
    quick: values.quick,
    repair: values.repair,
    graceMs: durationFlag(values.grace ?? config.gc.grace, '--grace'),
    uploadTtlMs: durationFlag(values['upload-ttl'] ?? config.gc.uploadTtl, '--upload-ttl'),
    onProgress: progress?.update,
    onProblem: (problem) => {
      if (values.json) return;
      progress?.clear();
      process.stdout.write(`${describe(problem)}\n`);
    },
  });
  progress?.clear();
  process.stdout.write(values.json ? `${JSON.stringify({ clean: report.errors === 0, storage: describeStorage(config.storage), ...report })}\n` : summary(report, describeStorage(config.storage)));
  if (report.errors > 0) process.exitCode = 1;
}
