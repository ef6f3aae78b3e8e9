/**
 * `proxies[].sync`: references copied into the cache and kept fresh, every `syncEvery`, by one
 * replica per period (src/periodic.ts). A sync pulls each reference through the cache exactly as
 * a client would (cache.ts: the tag revalidated once its tagTtl has passed; child manifests of an
 * index, for `syncPlatforms` or all, and every blob fetched when missing), so a synced image is
 * complete in storage before anyone asks, and its pull times keep it from eviction. A reference
 * the upstream cannot give now is logged and tried again next period.
 */
import type { Logger } from 'pino';
import { PeriodicClaims } from '../periodic.js';
import { type Manifest, parseManifest } from '../registry/manifest.js';
import type { ChangeOrigin } from '../registry/observer.js';
import type { Registry } from '../registry/registry.js';
import type { ProxyCache, ProxyTarget } from './cache.js';
import { matchesPlatform } from './platform.js';
import { parseRelativeReference } from './reference.js';
import { type PullTimes, syncClaims } from './state.js';

const ORIGIN: ChangeOrigin = { actor: { name: 'proxy' } };
/** A server that just started syncs after this long (or the period, when shorter). */
const FIRST_TRY_MS = 10_000;

export interface SyncDeps {
  registry: Registry;
  pulls: PullTimes;
  log: Logger;
  /** This replica's name in claims. */
  replica: string;
}

export interface SyncReport {
  references: number;
  failed: number;
  manifests: number;
  blobs: number;
}

export class SyncSchedule {
  private readonly claims: PeriodicClaims;
  private readonly log: Logger;

  constructor(
    private readonly cache: ProxyCache,
    private readonly deps: SyncDeps,
  ) {
    this.log = deps.log.child({ proxy: cache.label, component: 'sync' });
    this.claims = new PeriodicClaims(deps.registry.driver, syncClaims(cache.settings.prefix), cache.settings.syncEveryMs, deps.replica, this.log);
  }

  start(): void {
    this.claims.start(FIRST_TRY_MS, () => this.tick());
  }

  stop(): Promise<void> {
    return this.claims.stop();
  }

  /** Claims the current period and syncs if the claim is ours; what the run did, or undefined. */
  async tick(now = Date.now()): Promise<SyncReport | undefined> {
    if (!(await this.claims.claim(now))) return undefined;
    const report = await this.syncAll();
    this.log.info(report, 'proxy sync finished');
    await this.claims.forgetOldClaims();
    return report;
  }

  /** Every reference of `sync`, whatever period it is (the claim is tick's). */
  async syncAll(): Promise<SyncReport> {
    const report: SyncReport = { references: 0, failed: 0, manifests: 0, blobs: 0 };
    for (const text of this.cache.settings.sync) {
      report.references += 1;
      try {
        const { name, reference } = parseRelativeReference(text);
        await this.syncOne(this.cache.target(name), reference, report);
      } catch (err) {
        report.failed += 1;
        this.log.warn({ reference: text, err: { message: (err as Error).message } }, 'proxy sync: could not refresh a reference; trying again next period');
      }
    }
    return report;
  }

  private async syncOne(target: ProxyTarget, reference: string, report: SyncReport): Promise<void> {
    const { registry, pulls } = this.deps;
    const load = async (ref: string): Promise<Manifest> => {
      await this.cache.manifest(target, ref, ORIGIN);
      const stored = await registry.manifests.get(target.local, ref);
      pulls.touch(target.local, stored.digest);
      report.manifests += 1;
      return parseManifest(stored.bytes, stored.mediaType);
    };
    const top = await load(reference);
    const wanted = this.cache.settings.syncPlatforms;
    const images = top.manifests.length === 0 ? [top] : [];
    for (const child of top.manifests) {
      if (wanted.length === 0 || wanted.some((platform) => matchesPlatform(child.platform, platform))) images.push(await load(child.digest));
    }
    for (const image of images) {
      for (const blob of image.blobs) {
        await this.cache.blob(target, blob.digest, 'stored');
        report.blobs += 1;
      }
    }
  }
}
