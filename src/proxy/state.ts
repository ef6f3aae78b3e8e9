/**
 * What the proxies keep in storage besides the cached content itself (which lives in the normal
 * repository layout, src/registry/layout.ts):
 *
 *   /_berth/proxy/repositories/<name>/_cache                      this repository is a cache of the
 *                                                                 proxy with prefix "" (JSON: upstream, since)
 *   /_berth/proxy/repositories/<name>/_pulls/<alg>/<hex>          when the manifest was last pulled (JSON: at)
 *   /_berth/proxy/sync/<proxy id>/<period ms>-<index>             a sync period's claim (src/proxy/sync.ts)
 *
 * Repository names have no part starting with `_`, so `_cache` and `_pulls` never meet a nested
 * name. Pull times are written at most once an hour per manifest and process (PULL_WRITE_MS): a
 * pull costs no storage write, and eviction (`evictAfter`, in days) needs no finer clock.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { parseDigest } from '../registry/digest.js';
import { LruCache } from '../util/index.js';

export const PROXY_STATE = '/_berth/proxy';
const PULL_WRITE_MS = 3_600_000;

function repositoryState(name: string): string {
  return `${PROXY_STATE}/repositories/${name}`;
}

export function pullRecord(name: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${repositoryState(name)}/_pulls/${algorithm}/${hex}`;
}

export function cacheMarker(name: string): string {
  return `${repositoryState(name)}/_cache`;
}

/** The folder of one proxy's sync claims; the id is a hash (prefixes hold `/`, one is empty). */
export function syncClaims(prefix: string): string {
  return `${PROXY_STATE}/sync/${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`;
}

async function readJson(driver: StorageDriver, path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse((await driver.getContent(path)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof PathNotFoundError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** When each cached manifest was last pulled. */
export class PullTimes {
  /** When this process last wrote each record (`name@digest`). */
  private readonly written = new LruCache<string, number>(100_000);
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly log?: Logger,
  ) {}

  /** Notes a pull; writes only when this process has not written the record within the hour. */
  touch(name: string, digest: string, now = Date.now()): void {
    const key = `${name}@${digest}`;
    const last = this.written.get(key);
    if (last !== undefined && now - last < PULL_WRITE_MS) return;
    this.written.set(key, now);
    const write = this.driver
      .putContent(pullRecord(name, digest), Buffer.from(JSON.stringify({ at: new Date(now).toISOString() })))
      .catch((err: unknown) => {
        this.written.delete(key);
        this.log?.warn({ err: { message: (err as Error).message }, repository: name, digest }, 'proxy: could not record a pull time');
      })
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Waits for the records being written (the pull was answered before its record was). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** The last pull time in ms, or undefined when none was recorded. */
  async lastPulled(name: string, digest: string): Promise<number | undefined> {
    const record = await readJson(this.driver, pullRecord(name, digest));
    const at = typeof record?.at === 'string' ? Date.parse(record.at) : Number.NaN;
    return Number.isNaN(at) ? undefined : at;
  }

  /** Starts the clock for a manifest pulled before pull times were kept. */
  async start(name: string, digest: string, now: number): Promise<void> {
    await this.driver.putContent(pullRecord(name, digest), Buffer.from(JSON.stringify({ at: new Date(now).toISOString() })));
  }

  async forget(name: string, digest: string): Promise<void> {
    this.written.delete(`${name}@${digest}`);
    await this.driver.delete(pullRecord(name, digest)).catch((err: unknown) => {
      if (!(err instanceof PathNotFoundError)) throw err;
    });
  }
}

/** Which repositories the proxy with prefix "" filled (the others with no prefix are the team's own). */
export class CacheMarkers {
  /** Names known to be caches: a marker is never removed while the repository exists. */
  private readonly known = new LruCache<string, true>(100_000);

  constructor(private readonly driver: StorageDriver) {}

  async isCache(name: string): Promise<boolean> {
    if (this.known.get(name)) return true;
    const marked = (await readJson(this.driver, cacheMarker(name))) !== undefined;
    if (marked) this.known.set(name, true);
    return marked;
  }

  async mark(name: string, upstream: string): Promise<void> {
    if (this.known.get(name)) return;
    await this.driver.putContentIfAbsent(cacheMarker(name), Buffer.from(JSON.stringify({ upstream, since: new Date().toISOString() })));
    this.known.set(name, true);
  }

  async unmark(name: string): Promise<void> {
    this.known.delete(name);
    await this.driver.delete(cacheMarker(name)).catch((err: unknown) => {
      if (!(err instanceof PathNotFoundError)) throw err;
    });
  }
}

/**
 * Whether a stored repository is a pull-through cache's: under a proxy's prefix, or marked by the
 * proxy without one (the team's own repositories beside it are not).
 */
export function cacheRepositoryTest(proxies: readonly { prefix: string }[], driver: StorageDriver): (name: string) => Promise<boolean> {
  const prefixes = proxies.filter((p) => p.prefix !== '').map((p) => `${p.prefix}/`);
  const markers = proxies.some((p) => p.prefix === '') ? new CacheMarkers(driver) : undefined;
  return async (name) => prefixes.some((prefix) => name.startsWith(prefix)) || ((await markers?.isCache(name)) ?? false);
}
