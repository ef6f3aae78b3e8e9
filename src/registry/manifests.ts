/**
 * Manifests in repositories: stored byte for byte as blobs, linked as revisions, named by tags,
 * and indexed by subject for the referrers API.
 */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { type BlobStore, deleteIfPresent, readLink } from './blobs.js';
import { DEFAULT_ALGORITHM, digestOf, isDigest, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import * as layout from './layout.js';
import { digestsUnder } from './listing.js';
import { LruCache } from '../util/index.js';
import { type Descriptor, MediaType, type ManifestSummary, parseManifest, summarizeManifest } from './manifest.js';
import { checkTag, isValidTag } from './names.js';
import type { ChangeObserver, ChangeOrigin } from './observer.js';

export interface StoredManifest extends ManifestSummary {
  digest: string;
  bytes: Buffer;
}

export interface PutManifestResult {
  digest: string;
  /** Tags now pointing at the manifest (the reference, when a tag, and any extra tags). */
  tags: string[];
  subject?: string;
}

export interface ManifestLimits {
  /** Largest manifest accepted, in bytes. */
  maxManifestSize: number;
}

export function manifestUnknown(reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { detail: { reference: reference.slice(0, 200) } });
}

export function manifestTooLarge(limit: number): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `manifest larger than the limit of ${limit} bytes`, { status: 413, detail: { limit } });
}

export class ManifestStore {
  /** Summaries by digest: manifests are immutable, so a cached summary never goes stale. */
  private readonly summaries = new LruCache<string, ManifestSummary>(10_000);
  /** Manifest bytes by digest, up to 16 MiB in all: saves a storage read per pull. */
  private readonly contents = new LruCache<string, Buffer>(16 * 1024 * 1024, (bytes) => bytes.length);

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly limits: ManifestLimits,
    private readonly observer?: ChangeObserver,
  ) {}

  async put(name: string, reference: string, bytes: Buffer, contentType: string | undefined, extraTags: string[] = [], origin?: ChangeOrigin): Promise<PutManifestResult> {
    return this.write(name, reference, bytes, contentType, extraTags, origin, true);
  }

  /**
   * Stores a manifest fetched from elsewhere (a pull-through cache's upstream) whose config, layers
   * and child manifests need not be here yet: they are fetched when asked for. Everything else is
   * as `put`: the bytes must match a digest reference, parse and validate; tags and the referrers
   * entry are written; the observer is told.
   */
  async cache(name: string, reference: string, bytes: Buffer, contentType: string | undefined, extraTags: string[] = [], origin?: ChangeOrigin): Promise<PutManifestResult> {
    return this.write(name, reference, bytes, contentType, extraTags, origin, false);
  }

  private async write(
    name: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    extraTags: string[],
    origin: ChangeOrigin | undefined,
    referencesMustExist: boolean,
  ): Promise<PutManifestResult> {
    if (bytes.length > this.limits.maxManifestSize) throw manifestTooLarge(this.limits.maxManifestSize);
    let digest: string;
    const tags = extraTags.map(checkTag);
    if (isDigest(reference)) {
      const { algorithm } = parseDigest(reference);
      digest = digestOf(bytes, algorithm);
      if (digest !== reference) {
        throw new RegistryError('DIGEST_INVALID', 'manifest digest did not match the reference', { detail: { reference, computed: digest } });
      }
    } else {
      tags.unshift(checkTag(reference));
      digest = digestOf(bytes, DEFAULT_ALGORITHM);
    }
    const manifest = parseManifest(bytes, contentType);
    if (referencesMustExist) await this.checkReferences(name, manifest.blobs, manifest.manifests);

    // Written even when already stored: one small PUT is cheaper than asking first (on S3).
    await this.driver.putContent(layout.blobData(digest), bytes);
    await this.driver.putContent(layout.manifestRevisionLink(name, digest), Buffer.from(digest));
    await Promise.all(tags.map((tag) => this.driver.putContent(layout.tagCurrentLink(name, tag), Buffer.from(digest))));
    const subject = manifest.subject?.digest;
    if (subject) await this.driver.putContent(layout.referrerLink(name, subject, digest), Buffer.from(digest));
    // A cached manifest's references arrive later, when asked for: only its revision is checked.
    await this.confirmWritten(name, digest, referencesMustExist ? manifest.blobs : [], referencesMustExist ? manifest.manifests : []);
    const set = [...new Set(tags)];
    await this.observer?.({ kind: 'manifest-pushed', repository: name, digest, mediaType: manifest.mediaType, size: bytes.length, tags: set }, origin);
    return { digest, tags: set, subject };
  }

  /**
   * After writing: the revision and every link the manifest needs must still be there. Garbage
   * collection running meanwhile may have removed one it judged unused a moment before this push
   * named it; it checks again after deleting (src/registry/gc.ts), and whichever of the two looks
   * last sees the other's write. Failing here means the push is not acknowledged: the client
   * pushes again, blobs included.
   */
  private async confirmWritten(name: string, digest: string, blobs: Descriptor[], manifests: Descriptor[]): Promise<void> {
    const links = [
      { path: layout.manifestRevisionLink(name, digest), digest },
      ...blobs.map((d) => ({ path: layout.layerLink(name, d.digest), digest: d.digest })),
      ...manifests.map((d) => ({ path: layout.manifestRevisionLink(name, d.digest), digest: d.digest })),
    ];
    const gone = (await Promise.all(links.map(async (l) => ((await readLink(this.driver, l.path, l.digest)) ? undefined : l.digest)))).find(Boolean);
    if (gone) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'a blob or manifest it references was removed while it was pushed (garbage collection): push it again', {
        detail: { digest: gone },
      });
    }
  }

  /** The manifest a tag or digest names in `name`; MANIFEST_UNKNOWN when there is none. */
  async get(name: string, reference: string): Promise<StoredManifest> {
    const digest = await this.resolve(name, reference);
    let bytes = this.contents.get(digest);
    if (!bytes) {
      try {
        bytes = await this.driver.getContent(layout.blobData(digest));
      } catch (err) {
        if (err instanceof PathNotFoundError) throw manifestUnknown(reference);
        throw err;
      }
      this.contents.set(digest, bytes);
    }
    return { ...this.summary(digest, bytes), digest, bytes };
  }

  /** Deletes a manifest by digest (with the tags naming it), or only a tag. */
  async delete(name: string, reference: string, origin?: ChangeOrigin): Promise<void> {
    if (!isDigest(reference)) {
      if (!isValidTag(reference)) throw manifestUnknown(reference);
      // What the tag named, for the observer only (one read less when nobody listens).
      const target = this.observer && (await readLink(this.driver, layout.tagCurrentLink(name, reference)));
      if (!(await deleteIfPresent(this.driver, layout.tag(name, reference)))) throw manifestUnknown(reference);
      await this.observer?.({ kind: 'tag-deleted', repository: name, tag: reference, ...(target ? { digest: target } : {}) }, origin);
      return;
    }
    const digest = await this.resolve(name, reference);
    const bytes = await this.driver.getContent(layout.blobData(digest)).catch(() => undefined);
    await this.driver.delete(layout.manifestRevisionLink(name, digest));
    const untagged: string[] = [];
    for (const tag of await this.tags(name)) {
      if ((await readLink(this.driver, layout.tagCurrentLink(name, tag))) !== digest) continue;
      if (await deleteIfPresent(this.driver, layout.tag(name, tag))) untagged.push(tag);
    }
    const summary = bytes && this.summary(digest, bytes);
    if (summary?.subject) await deleteIfPresent(this.driver, layout.referrerLink(name, summary.subject, digest));
    await this.observer?.(
      { kind: 'manifest-deleted', repository: name, digest, ...(summary ? { mediaType: summary.mediaType, size: summary.size } : {}), tags: untagged },
      origin,
    );
  }

  /** Tags of `name`, sorted; NAME_UNKNOWN when the repository does not exist. */
  async tags(name: string): Promise<string[]> {
    try {
      return (await this.driver.list(layout.tags(name))).map((path) => path.slice(path.lastIndexOf('/') + 1)).sort();
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
    }
    try {
      await this.driver.stat(layout.repository(name));
    } catch (err) {
      if (err instanceof PathNotFoundError) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { detail: { name } });
      throw err;
    }
    return [];
  }

  /** Manifests in `name` whose subject is `subject`, as descriptors, optionally of one artifact type. */
  async referrers(name: string, subject: string, artifactType?: string): Promise<Descriptor[]> {
    parseDigest(subject);
    const digests = await digestsUnder(this.driver, layout.referrers(name, subject));
    const found = await Promise.all(
      digests.map(async (digest) => {
        const summary = await this.summaryOf(digest);
        if (!summary) return undefined;
        const descriptor: Descriptor = { mediaType: summary.mediaType, digest, size: summary.size };
        if (summary.artifactType) descriptor.artifactType = summary.artifactType;
        if (summary.annotations) descriptor.annotations = summary.annotations;
        return descriptor;
      }),
    );
    return found.filter((d): d is Descriptor => d !== undefined && (artifactType === undefined || d.artifactType === artifactType));
  }

  /** The digest a tag or digest names in `name` (a revision there), or undefined when none. */
  async digestOf(name: string, reference: string): Promise<string | undefined> {
    try {
      return await this.resolve(name, reference);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN') return undefined;
      throw err;
    }
  }

  /** The digests of every manifest revision in `name` (tagged or not). */
  async revisions(name: string): Promise<string[]> {
    return digestsUnder(this.driver, `${layout.repository(name)}/_manifests/revisions`);
  }

  /** The digest a reference names in `name`, checked to be a revision there. */
  private async resolve(name: string, reference: string): Promise<string> {
    let digest: string;
    if (isDigest(reference)) {
      parseDigest(reference);
      digest = reference;
    } else {
      // A reference that is no valid tag names nothing: unknown, as the conformance suite expects.
      if (!isValidTag(reference)) throw manifestUnknown(reference);
      const target = await readLink(this.driver, layout.tagCurrentLink(name, reference));
      if (!target) throw manifestUnknown(reference);
      digest = target;
    }
    if (!(await readLink(this.driver, layout.manifestRevisionLink(name, digest), digest))) throw manifestUnknown(reference);
    return digest;
  }

  private async checkReferences(name: string, blobs: Descriptor[], manifests: Descriptor[]): Promise<void> {
    const missing = await Promise.all([
      ...blobs.map(async (d) => ((await this.blobs.has(name, d.digest)) ? undefined : d)),
      ...manifests.map(async (d) => ((await readLink(this.driver, layout.manifestRevisionLink(name, d.digest), d.digest)) ? undefined : d)),
    ]);
    const first = missing.find((d) => d !== undefined);
    if (first) {
      const what = manifests.includes(first) ? 'manifest' : first.mediaType === MediaType.OciEmpty ? 'empty config blob' : 'blob';
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references a ${what} unknown to this repository`, {
        detail: { digest: first.digest, mediaType: first.mediaType },
      });
    }
  }

  private summary(digest: string, bytes: Buffer): ManifestSummary {
    let summary = this.summaries.get(digest);
    if (!summary) {
      summary = summarizeManifest(bytes);
      this.summaries.set(digest, summary);
    }
    return summary;
  }

  private async summaryOf(digest: string): Promise<ManifestSummary | undefined> {
    const cached = this.summaries.get(digest);
    if (cached) return cached;
    try {
      return this.summary(digest, await this.driver.getContent(layout.blobData(digest)));
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

}
