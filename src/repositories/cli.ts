/**
 * `berth repos`, `berth tags NAME`, `berth rm NAME:TAG|NAME@DIGEST`, `berth du [NAME]`: an admin's
 * view of what is stored. Each works on the storage directly (`--config FILE`: no server needed)
 * or against a running Berth (`--url`, with credentials; then with the caller's rights, as the
 * API gives them).
 */
import { parseArgs } from 'node:util';
import { call, CONNECT_OPTIONS, CONNECT_USAGE, type Connection, connect, explainEmpty, reportRemoteErrors } from '../cli-client.js';
import { commandConfig, UsageError } from '../cli-util.js';
import type { Config } from '../config.js';
import { commandRecorder } from '../events/index.js';
import { createLogger } from '../log.js';
import { isDigest } from '../registry/digest.js';
import { collectGarbage } from '../registry/gc.js';
import type { RepositorySummary, RepositoryUsage, StorageUsage, TagInfo } from '../registry/inventory.js';
import { checkName, checkTag } from '../registry/names.js';
import { Registry } from '../registry/registry.js';
import { createStorageDriver } from '../storage.js';
import { formatBytes, parseDuration } from '../util/index.js';

export const REPOSITORY_USAGE = `usage:
  berth repos [--json]                       repositories: tags, size, last push
  berth tags NAME [--json]                   a repository's tags: digest, size, platforms, pushed
  berth rm NAME:TAG | NAME@DIGEST            delete a tag, or a manifest with every tag naming it
  berth du [NAME] [--json]                   storage per repository (shared layers counted once)
                                             and what gc would free

Each works on the storage of --config FILE (default: the package's config), or against a running
Berth with --url (with your rights there):
  --config FILE      config file whose storage is read
${CONNECT_USAGE}
`;

const OPTIONS = { ...CONNECT_OPTIONS, config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } as const;

/** Where a command reads: the storage of a config, or a server. */
type Source = { kind: 'storage'; config: Config; registry: Registry } | { kind: 'server'; conn: Connection };

async function sourceOf(values: { url?: string; config?: string; user?: string; 'password-stdin'?: boolean }): Promise<Source> {
  if (values.url || values.user) return { kind: 'server', conn: await connect(values) };
  const config = commandConfig(values.config);
  const driver = await createStorageDriver(config.storage);
  const log = createLogger('silent');
  // Deletes made here are events too (actor `cli`): journaled and queued for the endpoints, which
  // a running Berth then delivers.
  const registry = new Registry(driver, { ...config.limits }, log, { changes: commandRecorder(config.notifications, driver, log).observer });
  return { kind: 'storage', config, registry };
}


function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

async function getJson<T>(conn: Connection, path: string): Promise<T> {
  return (await (await call(conn, 'GET', path)).json()) as T;
}

async function listRepositories(source: Source): Promise<RepositorySummary[]> {
  if (source.kind === 'storage') {
    const summaries: RepositorySummary[] = [];
    for (const name of await source.registry.catalog()) summaries.push(await source.registry.inventory.summary(name));
    return summaries;
  }
  const all: RepositorySummary[] = [];
  let last: string | undefined;
  do {
    const page = await getJson<{ repositories: RepositorySummary[]; next?: string }>(source.conn, `/api/repositories?n=1000${last ? `&last=${encodeURIComponent(last)}` : ''}`);
    all.push(...page.repositories);
    last = page.next;
  } while (last);
  return all;
}

async function repos(json: boolean, source: Source): Promise<void> {
  const summaries = await listRepositories(source);
  if (json) {
    process.stdout.write(`${JSON.stringify(summaries)}\n`);
    return;
  }
  process.stdout.write(table([['REPOSITORY', 'TAGS', 'SIZE', 'LAST PUSH'], ...summaries.map((s) => [s.name, String(s.tags), formatBytes(s.size), s.lastPush ?? '-'])]));
  if (summaries.length === 0 && source.kind === 'server') await explainEmpty(source.conn, 'repositories');
}

async function tags(name: string, json: boolean, source: Source): Promise<void> {
  checkName(name);
  let infos: TagInfo[];
  if (source.kind === 'storage') {
    await source.registry.manifests.tags(name); // NAME_UNKNOWN for a repository that does not exist
    infos = await source.registry.inventory.tags(name);
  } else {
    infos = [];
    let last: string | undefined;
    do {
      const page = await getJson<{ tags: TagInfo[]; next?: string }>(source.conn, `/api/repositories/${name}/tags?n=1000${last ? `&last=${encodeURIComponent(last)}` : ''}`);
      infos.push(...page.tags);
      last = page.next;
    } while (last);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(infos)}\n`);
    return;
  }
  const rows = infos.map((t) => [t.tag, t.digest.slice(0, 19), formatBytes(t.size), t.platforms.join(',') || '-', t.pushed ?? '-']);
  process.stdout.write(table([['TAG', 'DIGEST', 'SIZE', 'PLATFORMS', 'PUSHED'], ...rows]));
}

/** `NAME:TAG` or `NAME@DIGEST` -> the repository and the reference. */
export function parseTarget(target: string): { name: string; reference: string } {
  const at = target.indexOf('@');
  if (at >= 0) {
    const reference = target.slice(at + 1);
    if (!isDigest(reference)) throw new UsageError(`${target}: after @ comes a digest (sha256:...)`);
    return { name: checkName(target.slice(0, at)), reference };
  }
  const colon = target.lastIndexOf(':');
  if (colon < 0 || colon < target.lastIndexOf('/')) throw new UsageError(`${target}: give NAME:TAG or NAME@DIGEST (rm never deletes a whole repository)`);
  return { name: checkName(target.slice(0, colon)), reference: checkTag(target.slice(colon + 1)) };
}

async function rm(target: string, source: Source): Promise<void> {
  const { name, reference } = parseTarget(target);
  if (source.kind === 'storage') await source.registry.manifests.delete(name, reference, { actor: { name: 'cli' } });
  else await call(source.conn, 'DELETE', `/v2/${name}/manifests/${reference}`);
  const what = isDigest(reference) ? `manifest ${name}@${reference} and the tags naming it` : `tag ${name}:${reference}`;
  process.stderr.write(`deleted ${what}; run berth gc to free the bytes nothing references any more\n`);
}

async function du(name: string | undefined, json: boolean, source: Source): Promise<void> {
  let usage: StorageUsage;
  let gcFrees: number | undefined;
  if (source.kind === 'storage') {
    const names = name ? [checkName(name)] : undefined;
    usage = await source.registry.inventory.usage(names);
    const { config } = source;
    const report = await collectGarbage(source.registry.driver, {
      dryRun: true,
      graceMs: parseDuration(config.gc.grace)!,
      uploadTtlMs: parseDuration(config.gc.uploadTtl)!,
      deleteUntagged: config.gc.deleteUntagged,
    });
    gcFrees = report.bytesFreed;
  } else {
    usage = await getJson<StorageUsage>(source.conn, '/api/usage');
    if (name) usage = { ...usage, repositories: usage.repositories.filter((r) => r.name === checkName(name)) };
  }
  if (name && usage.repositories.length === 0) throw new UsageError(`no repository ${name} here`);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...usage, ...(gcFrees === undefined ? {} : { gcWouldFree: gcFrees }) })}\n`);
    return;
  }
  const rows = usage.repositories.map((r: RepositoryUsage) => [r.name, formatBytes(r.size), formatBytes(r.exclusive)]);
  process.stdout.write(table([['REPOSITORY', 'SIZE', 'ONLY HERE'], ...rows]));
  if (!name) process.stdout.write(`\nall repositories: ${formatBytes(usage.referenced)} (shared layers counted once)\n`);
  if (gcFrees !== undefined) process.stdout.write(`gc would free: ${formatBytes(gcFrees)} (berth gc; gc.deleteUntagged and --delete-untagged free old revisions too)\n`);
  else process.stdout.write('gc would free: see berth gc --dry-run on the storage\n');
}

export function runRepositoryCommand(command: 'repos' | 'tags' | 'rm' | 'du', args: string[]): Promise<void> {
  return reportRemoteErrors(command, async () => {
    const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(REPOSITORY_USAGE);
      return;
    }
    const [target, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    const json = values.json === true;
    if ((command === 'tags' || command === 'rm') && !target) throw new UsageError(`berth ${command}: give ${command === 'tags' ? 'NAME' : 'NAME:TAG or NAME@DIGEST'}`);
    if (command === 'repos' && target) throw new UsageError(`unexpected argument ${JSON.stringify(target)}`);
    const source = await sourceOf(values);
    switch (command) {
      case 'repos':
        return repos(json, source);
      case 'tags':
        return tags(target!, json, source);
      case 'rm':
        return rm(target!, source);
      case 'du':
        return du(target, json, source);
    }
  });
}
