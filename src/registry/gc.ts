/**
 * Garbage collection: frees the bytes no manifest needs any more.
 *
 * Per repository:
 * - with `deleteUntagged`, manifests no tag reaches are deleted (their revision link, and their
 *   entry among their subject's referrers). Kept are: tagged manifests, the children of a kept
 *   index (and theirs), the referrers of a kept manifest (signatures, SBOMs: pushed by digest,
 *   never tagged, and of a kept image), and anything younger than the grace period;
 * - a layer link to a blob none of the kept manifests references is removed;
 * - uploads started longer ago than `uploadTtlMs` are deleted.
 * Then blob bytes that no repository's kept manifest references are deleted.
 *
 * Anything written less than `graceMs` ago is kept whatever it looks like: it may belong to a push
 * under way (blobs are uploaded and linked before the manifest that references them arrives; a
 * manifest is pushed before the tag or index that names it). That grace period is the compromise
 * that lets gc run online. Pushes that reuse what is already there (a client skips a blob its HEAD
 * found, or tags an old manifest) are covered by a check on both sides: after deleting in a
 * repository, gc lists its revisions again, and any manifest it did not keep that is there now
 * (pushed or re-pushed meanwhile) gets back the links gc removed for it, and keeps its blobs; a
 * manifest push, after writing, checks that its own revision and every link it needs are still
 * there, and fails (to be retried) otherwise. Whichever looks last sees the other's write. Races
 * left: an upload of the very bytes gc is deleting, landing between gc's look at their age and its
 * delete, loses them (the window is one stat; closing it needs a marker both sides check, or a
 * check of the bytes after the manifest push, which costs a request per blob on S3); a
 * cross-repository mount of an otherwise unreferenced old blob in the instant gc deletes it (the
 * manifest push then fails cleanly with MANIFEST_BLOB_UNKNOWN, or, if it checked just before,
 * names a blob gone); a client tagging an old untagged manifest between gc's last look at
 * the tags and its delete can end with a tag naming a deleted manifest. Run gc when no pushes are
 * under way if in doubt; `berth fsck` finds what such a race left.
 */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { deleteIfPresent, readLink } from './blobs.js';
import { listRepositories } from './catalog.js';
import { isAlgorithm } from './digest.js';
import * as layout from './layout.js';
import { digestsUnder, lastPart, listOrEmpty } from './listing.js';

export interface GcOptions {
  /** Report what would go, delete nothing. */
  dryRun: boolean;
  /** Things younger than this are kept (a push may be under way). */
  graceMs: number;
  /** Uploads older than this are abandoned and deleted. */
  uploadTtlMs: number;
  /** Also delete manifests no tag reaches (with care for indexes, their children and referrers). */
  deleteUntagged?: boolean;
  /** Called for every thing deleted (or, in a dry run, that would be). */
  onItem?: (item: GcItem) => void;
  now?: Date;
}

export interface GcItem {
  kind: 'manifest' | 'layer-link' | 'upload' | 'blob';
  /** The repository, for everything but blob bytes (shared by all repositories). */
  repository?: string;
  digest?: string;
  /** The upload's id, for uploads. */
  upload?: string;
  /** Bytes freed, for blobs. */
  bytes?: number;
}

export interface GcReport {
  repositories: number;
  /** Manifests kept. */
  manifests: number;
  manifestsDeleted: number;
  blobsKept: number;
  blobsDeleted: number;
  bytesFreed: number;
  linksDeleted: number;
  uploadsDeleted: number;
  /** What would have gone but is younger than the grace period. */
  heldBack: { manifests: number; links: number; blobs: number; bytes: number };
}

/** What a stored manifest points at: blobs and child manifests it references, and its subject. */
interface ManifestLinks {
  /** Config, layers and child manifests (everything it needs to be pulled). */
  references: string[];
  children: string[];
  subject?: string;
}

function digestOfDescriptor(d: unknown): string[] {
  return typeof d === 'object' && d !== null && typeof (d as { digest?: unknown }).digest === 'string' ? [(d as { digest: string }).digest] : [];
}

function linksOf(bytes: Buffer): ManifestLinks {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    const children = (Array.isArray(body.manifests) ? body.manifests : []).flatMap(digestOfDescriptor);
    const blobs = [body.config, ...(Array.isArray(body.layers) ? body.layers : [])].flatMap(digestOfDescriptor);
    const [subject] = digestOfDescriptor(body.subject);
    return { references: [...blobs, ...children], children, subject };
  } catch {
    return { references: [], children: [] };
  }
}

/** The manifests of one repository that stay: tagged, young, and what those need or carry. */
function keptManifests(revisions: Map<string, ManifestLinks>, roots: Iterable<string>): Set<string> {
  const kept = new Set<string>();
  const referrersOf = new Map<string, string[]>();
  for (const [digest, links] of revisions) {
    if (links.subject) referrersOf.set(links.subject, [...(referrersOf.get(links.subject) ?? []), digest]);
  }
  const pending = [...roots];
  while (pending.length > 0) {
    const digest = pending.pop()!;
    if (kept.has(digest) || !revisions.has(digest)) continue;
    kept.add(digest);
    pending.push(...revisions.get(digest)!.children, ...(referrersOf.get(digest) ?? []));
  }
  return kept;
}

export async function collectGarbage(driver: StorageDriver, options: GcOptions): Promise<GcReport> {
  const now = (options.now ?? new Date()).getTime();
  const report: GcReport = {
    repositories: 0,
    manifests: 0,
    manifestsDeleted: 0,
    blobsKept: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    linksDeleted: 0,
    uploadsDeleted: 0,
    heldBack: { manifests: 0, links: 0, blobs: 0, bytes: 0 },
  };
  const isYoung = async (path: string): Promise<boolean> => {
    try {
      return now - (await driver.stat(path)).modified.getTime() < options.graceMs;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  };
  const remove = async (path: string, item: GcItem): Promise<void> => {
    options.onItem?.(item);
    if (!options.dryRun) await deleteIfPresent(driver, path);
  };
  const marked = new Set<string>();

  for (const name of await listRepositories(driver)) {
    report.repositories += 1;
    const revisions = new Map<string, ManifestLinks>();
    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_manifests/revisions`)) {
      try {
        revisions.set(digest, linksOf(await driver.getContent(layout.blobData(digest))));
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
        revisions.set(digest, { references: [], children: [] });
      }
    }

    let kept = new Set(revisions.keys());
    const manifestsDeleted = new Set<string>();
    if (options.deleteUntagged) {
      const tagged = await taggedDigests(driver, name);
      kept = keptManifests(revisions, tagged);
      const young: string[] = [];
      for (const digest of revisions.keys()) {
        if (!kept.has(digest) && (await isYoung(layout.manifestRevisionLink(name, digest)))) young.push(digest);
      }
      report.heldBack.manifests += young.length;
      // Look at the tags again just before deleting: one may have been moved meanwhile.
      kept = keptManifests(revisions, [...tagged, ...(await taggedDigests(driver, name)), ...young]);
      for (const [digest, links] of revisions) {
        if (kept.has(digest)) continue;
        if (await isYoung(layout.manifestRevisionLink(name, digest))) {
          kept = keptManifests(revisions, [...kept, digest]); // re-pushed meanwhile: it and what it needs stay
          continue;
        }
        report.manifestsDeleted += 1;
        await remove(layout.manifestRevisionLink(name, digest), { kind: 'manifest', repository: name, digest });
        manifestsDeleted.add(digest);
        if (links.subject && !options.dryRun) await deleteIfPresent(driver, layout.referrerLink(name, links.subject, digest));
      }
    }

    const referenced = new Set<string>();
    for (const digest of kept) {
      report.manifests += 1;
      referenced.add(digest);
      for (const ref of revisions.get(digest)!.references) referenced.add(ref);
    }
    for (const digest of referenced) marked.add(digest);

    const linksDeleted = new Set<string>();
    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_layers`)) {
      if (referenced.has(digest)) continue;
      const link = layout.layerLink(name, digest);
      if (await isYoung(link)) {
        report.heldBack.links += 1;
        marked.add(digest);
        continue;
      }
      report.linksDeleted += 1;
      await remove(link, { kind: 'layer-link', repository: name, digest });
      linksDeleted.add(digest);
    }
    if (!options.dryRun) await keepWhatAppeared(driver, name, { kept, revisions, manifestsDeleted, linksDeleted, marked });

    for (const upload of await listOrEmpty(driver, `${layout.repository(name)}/_uploads`)) {
      const startedAt = await readLink(driver, `${upload}/startedat`);
      const started = startedAt ? Date.parse(startedAt) : Number.NaN;
      const age = Number.isNaN(started) ? ((await isYoung(upload)) ? 0 : Number.POSITIVE_INFINITY) : now - started;
      if (age < options.uploadTtlMs) continue;
      report.uploadsDeleted += 1;
      await remove(upload, { kind: 'upload', repository: name, upload: lastPart(upload) });
    }
  }

  for (const algorithmFolder of await listOrEmpty(driver, '/blobs')) {
    const algorithm = lastPart(algorithmFolder);
    if (!isAlgorithm(algorithm)) continue;
    for (const prefixFolder of await listOrEmpty(driver, algorithmFolder)) {
      for (const hexFolder of await listOrEmpty(driver, prefixFolder)) {
        const digest = `${algorithm}:${lastPart(hexFolder)}`;
        if (marked.has(digest)) {
          report.blobsKept += 1;
          continue;
        }
        const data = `${hexFolder}/data`;
        const size = await driver.stat(data).then(
          (info) => info.size,
          () => 0,
        );
        if (await isYoung(data)) {
          report.blobsKept += 1;
          report.heldBack.blobs += 1;
          report.heldBack.bytes += size;
          continue;
        }
        report.blobsDeleted += 1;
        report.bytesFreed += size;
        // The data file, not its folder: a push moving the same bytes in at this instant makes a
        // folder delete fail half-way (the folder is not empty any more) and stop gc.
        await remove(data, { kind: 'blob', digest, bytes: size });
      }
    }
  }
  return report;
}

/**
 * The other side of a manifest push's own check: after gc deleted in a repository, the manifests
 * there now that it did not keep were pushed (or re-pushed) meanwhile. Whatever of theirs gc just
 * removed comes back (their layer links, the revision links of their children), and their blobs
 * and children are marked so that the blob sweep keeps them.
 */
async function keepWhatAppeared(
  driver: StorageDriver,
  name: string,
  run: { kept: Set<string>; revisions: Map<string, ManifestLinks>; manifestsDeleted: Set<string>; linksDeleted: Set<string>; marked: Set<string> },
): Promise<void> {
  const { kept, revisions, manifestsDeleted, linksDeleted, marked } = run;
  const restore = async (digest: string): Promise<void> => {
    if (manifestsDeleted.delete(digest)) await driver.putContent(layout.manifestRevisionLink(name, digest), Buffer.from(digest));
  };
  const pending = (await digestsUnder(driver, `${layout.repository(name)}/_manifests/revisions`)).filter((digest) => !kept.has(digest));
  // A tag moved meanwhile onto a manifest gc just deleted: that manifest comes back.
  for (const digest of manifestsDeleted.size > 0 ? await taggedDigests(driver, name) : []) {
    if (manifestsDeleted.has(digest)) {
      await restore(digest);
      pending.push(digest);
    }
  }
  const seen = new Set<string>();
  while (pending.length > 0) {
    const digest = pending.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    let links = revisions.get(digest);
    if (!links) {
      try {
        links = linksOf(await driver.getContent(layout.blobData(digest)));
      } catch (err) {
        if (err instanceof PathNotFoundError) continue;
        throw err;
      }
    }
    marked.add(digest);
    for (const ref of links.references) {
      marked.add(ref);
      if (linksDeleted.delete(ref)) await driver.putContent(layout.layerLink(name, ref), Buffer.from(ref));
    }
    for (const child of links.children) {
      if (kept.has(child)) continue;
      await restore(child);
      pending.push(child);
    }
  }
}

/** The digests the tags of `name` point at. */
async function taggedDigests(driver: StorageDriver, name: string): Promise<Set<string>> {
  const digests = new Set<string>();
  for (const tagFolder of await listOrEmpty(driver, layout.tags(name))) {
    const digest = await readLink(driver, layout.tagCurrentLink(name, lastPart(tagFolder)));
    if (digest) digests.add(digest);
  }
  return digests;
}
