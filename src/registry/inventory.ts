/**
 * What is stored, as people ask about it: a repository's tags with digest, size, platforms and
 * when they were pushed; a repository's size and last push; and the storage each repository uses,
 * with shared blobs counted once. Sizes are the stored sizes of the bytes (never a descriptor's
 * claim), cached by digest: content-addressed bytes never change.
 *
 * Cost: a summary reads each tag's link (and its time) and each manifest it needs (cached); a
 * usage report reads every manifest of every repository, as gc does.
 */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { LruCache } from '../util/index.js';
import { readLink } from './blobs.js';
import { listRepositories } from './catalog.js';
import * as layout from './layout.js';
import { digestsUnder, lastPart, listOrEmpty } from './listing.js';
import { MediaType } from './manifest.js';

export interface TagInfo {
  tag: string;
  digest: string;
  mediaType: string;
  /** Bytes a pull of the tag fetches: the manifest, and its config and layers (for an index, every child's). */
  size: number;
  /** `os/arch[/variant]` of each image (one for an image, one per child for an index), when the config says. */
  platforms: string[];
  /** When the tag last moved (ISO 8601). */
  pushed?: string;
  /** Who moved it, when the audit trail says (filled in by the API, not read here). */
  pushedBy?: string;
}

export interface RepositorySummary {
  name: string;
  tags: number;
  /** Bytes of every blob and manifest the repository's manifests reference, each counted once. */
  size: number;
  /** When a tag last moved (ISO 8601); undefined without tags. */
  lastPush?: string;
}

export interface RepositoryUsage {
  name: string;
  /** As in the summary: what the repository's manifests reference. */
  size: number;
  /** The part of `size` no other repository references: what deleting the repository would free. */
  exclusive: number;
}

export interface StorageUsage {
  repositories: RepositoryUsage[];
  /** Bytes referenced by any repository, shared blobs counted once. */
  referenced: number;
}

interface ManifestFacts {
  mediaType: string;
  /** Config and layers (images) or child manifests (indexes). */
  references: { digest: string; mediaType?: string; platform?: string }[];
  config?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function platformOf(value: unknown): string | undefined {
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') return undefined;
  return [value.os, value.architecture, ...(typeof value.variant === 'string' ? [value.variant] : [])].join('/');
}

function factsOf(bytes: Buffer): ManifestFacts {
  const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const list = (value: unknown) => (Array.isArray(value) ? value.filter(isObject) : []);
  const references = [...(isObject(body.config) ? [body.config] : []), ...list(body.layers), ...list(body.manifests)]
    .filter((d) => typeof d.digest === 'string')
    .map((d) => ({ digest: d.digest as string, mediaType: typeof d.mediaType === 'string' ? d.mediaType : undefined, platform: platformOf(d.platform) }));
  const mediaType = typeof body.mediaType === 'string' ? body.mediaType : Array.isArray(body.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  const config = isObject(body.config) && typeof body.config.digest === 'string' ? body.config.digest : undefined;
  return { mediaType, references, config };
}

export class Inventory {
  private readonly sizes = new LruCache<string, number>(100_000);
  private readonly facts = new LruCache<string, ManifestFacts>(20_000);
  private readonly platforms = new LruCache<string, string | null>(20_000);

  constructor(private readonly driver: StorageDriver) {}

  /** Tags of `name` (all, or those of `only`) with what they name, sorted by tag. */
  async tags(name: string, only?: string[]): Promise<TagInfo[]> {
    const infos: TagInfo[] = [];
    for (const tag of only ?? (await this.tagNames(name))) {
      const link = layout.tagCurrentLink(name, tag);
      const digest = await readLink(this.driver, link);
      const facts = digest ? await this.manifest(digest) : undefined;
      if (!digest || !facts) continue; // a tag whose manifest is gone: nothing to show
      const digests = await this.closure(digest);
      infos.push({
        tag,
        digest,
        mediaType: facts.mediaType,
        size: await this.sizeOf(digests),
        platforms: await this.platformsOf(digest, facts),
        pushed: await this.modified(link),
      });
    }
    return infos;
  }

  async summary(name: string): Promise<RepositorySummary> {
    const { tags, lastPush } = await this.pushes(name);
    return { name, tags, size: await this.sizeOf(await this.referencedBy(name)), lastPush };
  }

  /** How many tags, and when one last moved: the cheap part of a summary (a listing and a stat per tag). */
  async pushes(name: string): Promise<{ tags: number; lastPush?: string }> {
    const tags = await this.tagNames(name);
    let lastPush: string | undefined;
    for (const tag of tags) {
      const pushed = await this.modified(layout.tagCurrentLink(name, tag));
      if (pushed && (!lastPush || pushed > lastPush)) lastPush = pushed;
    }
    return { tags: tags.length, ...(lastPush ? { lastPush } : {}) };
  }

  /** Bytes a pull of the manifest fetches: itself, its config and layers, an index's children and theirs. */
  async pullSize(digest: string): Promise<number> {
    return this.sizeOf(await this.closure(digest));
  }

  /** The stored size of a blob or manifest, undefined when its bytes are gone. */
  blobSize(digest: string): Promise<number | undefined> {
    return this.storedSize(digest);
  }

  /** Whether the repository holds anything (tags or not). */
  async exists(name: string): Promise<boolean> {
    return (await listOrEmpty(this.driver, layout.repository(name))).some((path) => ['_manifests', '_layers'].includes(lastPart(path)));
  }

  /** Storage per repository (of `names`, default all), and in all with shared blobs once. */
  async usage(names?: string[]): Promise<StorageUsage> {
    const referencedBy = new Map<string, Set<string>>();
    const owners = new Map<string, number>();
    for (const name of names ?? (await listRepositories(this.driver))) {
      const digests = await this.referencedBy(name);
      referencedBy.set(name, digests);
      for (const digest of digests) owners.set(digest, (owners.get(digest) ?? 0) + 1);
    }
    const repositories: RepositoryUsage[] = [];
    for (const [name, digests] of referencedBy) {
      repositories.push({
        name,
        size: await this.sizeOf(digests),
        exclusive: await this.sizeOf(new Set([...digests].filter((digest) => owners.get(digest) === 1))),
      });
    }
    return { repositories, referenced: await this.sizeOf(new Set(owners.keys())) };
  }

  /** Every digest a repository's manifests reference, the manifests included. */
  private async referencedBy(name: string): Promise<Set<string>> {
    const digests = new Set<string>();
    for (const digest of await this.revisions(name)) {
      digests.add(digest);
      for (const ref of (await this.manifest(digest))?.references ?? []) digests.add(ref.digest);
    }
    return digests;
  }

  /** A manifest and everything a pull of it fetches (children of an index, and theirs). */
  private async closure(digest: string): Promise<Set<string>> {
    const digests = new Set<string>();
    const pending = [digest];
    while (pending.length > 0) {
      const next = pending.pop()!;
      if (digests.has(next)) continue;
      digests.add(next);
      const facts = await this.manifest(next);
      if (facts) pending.push(...facts.references.map((r) => r.digest));
    }
    return digests;
  }

  /** An image's own platform, or an index's children's (attestation entries, `unknown/unknown`, left out). */
  private async platformsOf(digest: string, facts: ManifestFacts): Promise<string[]> {
    if (facts.config !== undefined) {
      const own = await this.configPlatform(digest);
      return own ? [own] : [];
    }
    const found = await Promise.all(facts.references.map(async (child) => child.platform ?? (await this.configPlatform(child.digest))));
    return [...new Set(found.filter((p): p is string => p !== undefined && p !== 'unknown/unknown'))];
  }

  /** `os/arch` from an image manifest's config blob (small JSON), cached. */
  private async configPlatform(manifestDigest: string): Promise<string | undefined> {
    const cached = this.platforms.get(manifestDigest);
    if (cached !== undefined) return cached ?? undefined;
    const config = (await this.manifest(manifestDigest))?.config;
    let platform: string | undefined;
    if (config && ((await this.storedSize(config)) ?? Infinity) <= 1024 * 1024) {
      try {
        platform = platformOf(JSON.parse((await this.driver.getContent(layout.blobData(config))).toString('utf8')));
      } catch {
        platform = undefined; // not JSON (an artifact's config): no platform
      }
    }
    this.platforms.set(manifestDigest, platform ?? null);
    return platform;
  }

  private async manifest(digest: string): Promise<ManifestFacts | undefined> {
    const cached = this.facts.get(digest);
    if (cached) return cached;
    let bytes: Buffer;
    try {
      bytes = await this.driver.getContent(layout.blobData(digest));
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
    let facts: ManifestFacts;
    try {
      facts = factsOf(bytes);
    } catch {
      return undefined; // not a manifest (a blob digest): nothing to follow
    }
    this.facts.set(digest, facts);
    return facts;
  }

  private async sizeOf(digests: Iterable<string>): Promise<number> {
    let total = 0;
    for (const digest of digests) total += (await this.storedSize(digest)) ?? 0;
    return total;
  }

  private async storedSize(digest: string): Promise<number | undefined> {
    const cached = this.sizes.get(digest);
    if (cached !== undefined) return cached;
    try {
      const size = (await this.driver.stat(layout.blobData(digest))).size;
      this.sizes.set(digest, size);
      return size;
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  private async modified(path: string): Promise<string | undefined> {
    try {
      return (await this.driver.stat(path)).modified.toISOString();
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  private async tagNames(name: string): Promise<string[]> {
    return (await listOrEmpty(this.driver, layout.tags(name))).map(lastPart).sort();
  }

  private revisions(name: string): Promise<string[]> {
    return digestsUnder(this.driver, `${layout.repository(name)}/_manifests/revisions`);
  }
}
