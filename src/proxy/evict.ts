/**
 * Eviction (`proxies[].evictAfter`), run by gc (`berth gc`, and the scheduled gc) before it
 * collects: a cached manifest not pulled for `evictAfter` is deleted like any other (its revision,
 * the tags naming it, its referrers entry; events by actor `gc`), and gc then frees the blobs
 * nothing references any more. Anything evicted is fetched again from the upstream when next
 * asked for.
 *
 * Pull times come from state.ts (written at most hourly). A cached manifest without one (cached
 * before pull times were kept, or by a replica that stopped before writing it) gets one now: its
 * clock starts at this gc, it is not evicted on a guess.
 */
import type { ChangeOrigin } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';
import { parseDuration } from '../util/index.js';
import type { ProxyConfig } from './config.js';
import { CacheMarkers, PullTimes } from './state.js';

export interface EvictOptions {
  now?: number;
  dryRun: boolean;
  /** Called for every manifest evicted (or, in a dry run, that would be). */
  onItem?: (item: { repository: string; digest: string }) => void;
}

export interface EvictReport {
  /** Manifests evicted (or that would be). */
  manifests: number;
  /** Cached manifests looked at. */
  looked: number;
}

interface Evictable {
  prefix: string;
  evictAfterMs: number;
}

const ORIGIN: ChangeOrigin = { actor: { name: 'gc' } };

export async function evictUnpulled(registry: Registry, proxies: ProxyConfig[], options: EvictOptions): Promise<EvictReport> {
  const report: EvictReport = { manifests: 0, looked: 0 };
  const evictable: Evictable[] = proxies.filter((p) => p.evictAfter !== '').map((p) => ({ prefix: p.prefix, evictAfterMs: parseDuration(p.evictAfter)! }));
  if (evictable.length === 0) return report;
  const now = options.now ?? Date.now();
  const prefixes = proxies.map((p) => p.prefix).filter((p) => p !== '');
  const root = evictable.find((p) => p.prefix === '');
  const markers = new CacheMarkers(registry.driver);
  const pulls = new PullTimes(registry.driver);

  /** The eviction age for a stored repository, when a proxy with one caches it. */
  const ageFor = async (name: string): Promise<number | undefined> => {
    const owner = prefixes.find((prefix) => name.startsWith(`${prefix}/`));
    if (owner !== undefined) return evictable.find((p) => p.prefix === owner)?.evictAfterMs;
    return root && (await markers.isCache(name)) ? root.evictAfterMs : undefined;
  };

  for (const name of await registry.catalog()) {
    const age = await ageFor(name);
    if (age === undefined) continue;
    for (const digest of await registry.manifests.revisions(name)) {
      report.looked += 1;
      const pulled = await pulls.lastPulled(name, digest);
      if (pulled === undefined) {
        if (!options.dryRun) await pulls.start(name, digest, now);
        continue;
      }
      if (now - pulled < age) continue;
      report.manifests += 1;
      options.onItem?.({ repository: name, digest });
      if (options.dryRun) continue;
      // Gone already (a delete or another gc meanwhile) is what eviction wanted.
      await registry.manifests.delete(name, digest, ORIGIN).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'MANIFEST_UNKNOWN') throw err;
      });
      await pulls.forget(name, digest);
    }
  }
  return report;
}
