/**
 * A gc dry run for the admin API: what `berth gc` would delete now, and how many bytes that frees,
 * with the `gc:` section's settings, and which pull-through cached manifests it would evict
 * first (`proxies[].evictAfter`; their blobs are freed by the gc after, not counted here). It reads every manifest of every repository, so one runs at a
 * time per process: callers while it runs share its answer. It writes nothing (read-only mode and
 * replicas are no concern); the list of items is capped, the counts are not.
 */
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { GcConfig } from '../config.js';
import { collectGarbage, type GcItem, type GcReport } from '../registry/gc.js';
import { parseDuration } from '../util/index.js';

/** Items listed in an answer at most (the report's counts cover all). */
export const MAX_ITEMS = 1000;

/** A cached manifest gc would evict (src/proxy/evict.ts). */
export interface EvictionItem {
  repository: string;
  digest: string;
}

/** Runs eviction as a dry run, telling of each manifest it would evict. */
export type EvictionPreview = (onItem: (item: EvictionItem) => void) => Promise<unknown>;

export interface GcPreview {
  report: GcReport;
  /** Cached manifests not pulled for their proxy's `evictAfter` (the first MAX_ITEMS), and how many in all. */
  evictions: { items: EvictionItem[]; count: number };
  /** The first MAX_ITEMS things that would go. */
  items: GcItem[];
  /** Items past MAX_ITEMS, not listed. */
  more: number;
  settings: { grace: string; uploadTtl: string; deleteUntagged: boolean };
  startedAt: string;
  finishedAt: string;
}

export class GcPreviewer {
  private running?: Promise<GcPreview>;

  constructor(
    private readonly driver: StorageDriver,
    private readonly config: GcConfig,
    /** Without pull-through caches: none. */
    private readonly evictions?: EvictionPreview,
  ) {}

  run(): Promise<GcPreview> {
    this.running ??= this.collect().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async collect(): Promise<GcPreview> {
    const startedAt = new Date().toISOString();
    const evictions = { items: [] as EvictionItem[], count: 0 };
    await this.evictions?.((item) => {
      if (evictions.items.length < MAX_ITEMS) evictions.items.push(item);
      evictions.count += 1;
    });
    const items: GcItem[] = [];
    let more = 0;
    const report = await collectGarbage(this.driver, {
      dryRun: true,
      graceMs: parseDuration(this.config.grace)!,
      uploadTtlMs: parseDuration(this.config.uploadTtl)!,
      deleteUntagged: this.config.deleteUntagged,
      onItem: (item) => {
        if (items.length < MAX_ITEMS) items.push(item);
        else more += 1;
      },
    });
    const { grace, uploadTtl, deleteUntagged } = this.config;
    return { report, evictions, items, more, settings: { grace, uploadTtl, deleteUntagged }, startedAt, finishedAt: new Date().toISOString() };
  }
}
