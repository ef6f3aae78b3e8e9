/**
 * fsck: walks the storage layout (layout.ts) and reports what is inconsistent, each problem named
 * with its path and digest; with `repair`, removes what can only be garbage.
 *
 * Checked:
 * - blobs: bytes that do not hash to their digest (skipped with `quick`), folders that are no
 *   digest, a digest folder without data;
 * - per repository: layer and revision links that do not hold their own digest or whose bytes are
 *   gone; manifests that do not parse, or name blobs, layer links or child manifests the
 *   repository lacks; tags naming a manifest the repository lacks; referrer entries whose
 *   referrer is gone (and, as a warning, referrers whose subject is not there: the spec allows
 *   pushing a referrer first); upload folders that are no upload, lack their data (not on S3,
 *   whose writers keep uncommitted bytes elsewhere), or were abandoned (older than `uploadTtlMs`);
 * - Berth's own state (`/_berth`): records that do not parse.
 *
 * Repair removes only dangling links (layer, revision, tag and referrer links whose target is
 * gone) and orphan or abandoned uploads, never blob bytes nor a manifest: what a link points at is
 * what a user may still want, and a corrupt blob is for a person to look at. Nothing younger than
 * `graceMs` is removed (a push may be under way: an upload finishing, a tag moving), and every
 * removal re-checks its reason first. Safe while Berth serves; a problem seen during a push in
 * flight is looked at twice before it is reported.
 */
import { createHash } from 'node:crypto';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { deleteIfPresent, readLink } from './blobs.js';
import { listRepositories } from './catalog.js';
import { type Algorithm, isAlgorithm, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import * as layout from './layout.js';
import { lastPart, listOrEmpty } from './listing.js';
import { mediaTypeOf, parseManifest } from './manifest.js';
import { isValidName, isValidTag } from './names.js';

export type ProblemKind =
  | 'blob-corrupt'
  | 'blob-misplaced'
  | 'blob-data-missing'
  | 'link-mismatch'
  | 'layer-link-dangling'
  | 'revision-dangling'
  | 'manifest-invalid'
  | 'manifest-blob-missing'
  | 'manifest-layer-unlinked'
  | 'manifest-child-missing'
  | 'tag-dangling'
  | 'tag-invalid'
  | 'referrer-dangling'
  | 'referrer-subject-missing'
  | 'upload-orphan'
  | 'upload-abandoned'
  | 'state-invalid'
  | 'unknown-path';

export interface Problem {
  kind: ProblemKind;
  /** `warning`s are reported but do not make the storage unclean. */
  severity: 'error' | 'warning';
  /** The storage path the problem is at. */
  path: string;
  repository?: string;
  digest?: string;
  message: string;
  /** Whether `repair` may remove the thing at `path` (it can only be garbage). */
  repairable: boolean;
  /** Set when repair removed it. */
  repaired?: boolean;
}

export interface FsckOptions {
  /** Skip re-hashing blob bytes (sizes and structure only). */
  quick?: boolean;
  /** Remove what can only be garbage. */
  repair?: boolean;
  /** Things younger than this are never removed. */
  graceMs: number;
  /** Uploads started longer ago are abandoned. */
  uploadTtlMs: number;
  onProblem?: (problem: Problem) => void;
  onProgress?: (progress: FsckProgress) => void;
  now?: Date;
  /**
   * Whether a repository is a pull-through cache's (src/proxy): its manifests' blobs and children
   * arrive when first asked for, so absent ones are expected there, not damage.
   */
  isCache?: (repository: string) => Promise<boolean>;
}

export interface FsckProgress {
  phase: 'blobs' | 'repositories' | 'state';
  done: number;
  total: number;
}

export interface FsckReport {
  blobs: number;
  bytesHashed: number;
  repositories: number;
  manifests: number;
  tags: number;
  uploads: number;
  problems: Problem[];
  /** Problems of severity error that are still there (not repaired). */
  errors: number;
  warnings: number;
  repaired: number;
}

const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TOP_LEVEL = new Set(['blobs', 'repositories', '_berth']);
/** Blobs hashed at once. */
const HASH_CONCURRENCY = 4;

async function exists(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path);
    return true;
  } catch (err) {
    if (err instanceof PathNotFoundError) return false;
    throw err;
  }
}

async function hashOf(driver: StorageDriver, path: string, algorithm: Algorithm): Promise<{ digest: string; bytes: number }> {
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of await driver.reader(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { digest: `${algorithm}:${hash.digest('hex')}`, bytes };
}

/** Runs `work` on every item, `concurrency` at a time. */
async function eachLimited<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

export async function checkStorage(driver: StorageDriver, options: FsckOptions): Promise<FsckReport> {
  const now = (options.now ?? new Date()).getTime();
  const report: FsckReport = { blobs: 0, bytesHashed: 0, repositories: 0, manifests: 0, tags: 0, uploads: 0, problems: [], errors: 0, warnings: 0, repaired: 0 };

  const ageOf = async (path: string): Promise<number> => {
    try {
      return now - (await driver.stat(path)).modified.getTime();
    } catch (err) {
      if (err instanceof PathNotFoundError) return Number.POSITIVE_INFINITY;
      throw err;
    }
  };

  /**
   * Records a problem after `stillTrue` confirms it (a push in flight can make a link look
   * dangling for an instant); with repair, removes `path` when it is repairable, old enough, and
   * the reason still holds right before the removal.
   */
  const found = async (problem: Omit<Problem, 'severity' | 'repairable'> & { severity?: Problem['severity']; repairable?: boolean }, stillTrue?: () => Promise<boolean>): Promise<void> => {
    if (stillTrue && !(await stillTrue())) return;
    const full: Problem = { severity: 'error', repairable: false, ...problem };
    if (options.repair && full.repairable && (await ageOf(full.path)) >= options.graceMs && (!stillTrue || (await stillTrue()))) {
      await deleteIfPresent(driver, full.path);
      full.repaired = true;
      report.repaired += 1;
    }
    if (!full.repaired) {
      if (full.severity === 'error') report.errors += 1;
      else report.warnings += 1;
    }
    report.problems.push(full);
    options.onProblem?.(full);
  };

  // ---- blobs ----
  const blobDigests: { digest: string; algorithm: Algorithm; path: string }[] = [];
  for (const algorithmFolder of await listOrEmpty(driver, '/blobs')) {
    const algorithm = lastPart(algorithmFolder);
    if (!isAlgorithm(algorithm)) {
      await found({ kind: 'blob-misplaced', severity: 'warning', path: algorithmFolder, message: `not a digest algorithm Berth stores: ${algorithm}` });
      continue;
    }
    for (const prefixFolder of await listOrEmpty(driver, algorithmFolder)) {
      for (const hexFolder of await listOrEmpty(driver, prefixFolder)) {
        const hex = lastPart(hexFolder);
        const digest = `${algorithm}:${hex}`;
        if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex) || !hex.startsWith(lastPart(prefixFolder))) {
          await found({ kind: 'blob-misplaced', severity: 'warning', path: hexFolder, message: 'a folder under /blobs that is no digest (or not under its first two hex digits): nothing can read it' });
          continue;
        }
        const data = `${hexFolder}/data`;
        if (!(await exists(driver, data))) {
          await found({ kind: 'blob-data-missing', path: hexFolder, digest, message: 'a blob folder without data' }, async () => (await exists(driver, hexFolder)) && !(await exists(driver, data)));
          continue;
        }
        blobDigests.push({ digest, algorithm, path: data });
      }
    }
  }
  report.blobs = blobDigests.length;
  const stored = new Set(blobDigests.map((b) => b.digest));
  if (!options.quick) {
    let hashed = 0;
    await eachLimited(blobDigests, HASH_CONCURRENCY, async (blob) => {
      try {
        const { digest, bytes } = await hashOf(driver, blob.path, blob.algorithm);
        report.bytesHashed += bytes;
        if (digest !== blob.digest) await found({ kind: 'blob-corrupt', path: blob.path, digest: blob.digest, message: `the bytes hash to ${digest}` });
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err; // deleted meanwhile (gc): nothing to check
      }
      options.onProgress?.({ phase: 'blobs', done: ++hashed, total: blobDigests.length });
    });
  }
  /** Whether the bytes of `digest` are stored (looked up again for digests not seen in the walk). */
  const hasBytes = async (digest: string): Promise<boolean> => stored.has(digest) || exists(driver, layout.blobData(digest));

  // ---- repositories ----
  const names = new Set(await listRepositories(driver));
  const all = [...new Set([...names, ...(await repositoriesWithUploads(driver))])].sort();
  report.repositories = names.size;
  let done = 0;
  for (const name of all) {
    await checkRepository(name);
    options.onProgress?.({ phase: 'repositories', done: ++done, total: all.length });
  }

  async function checkRepository(name: string): Promise<void> {
    const repo = layout.repository(name);
    // Layer links.
    const layers = new Set<string>();
    for (const { digest, path, odd } of await linkFolders(`${repo}/_layers`)) {
      if (odd) {
        await found({ kind: 'link-mismatch', severity: 'warning', path: odd, repository: name, message: 'a folder under _layers that is no digest' });
        continue;
      }
      const link = `${path}/link`;
      const target = await readLink(driver, link);
      if (target === undefined) continue; // gone meanwhile
      if (target !== digest) {
        await found({ kind: 'link-mismatch', path: link, repository: name, digest, message: `the link holds ${JSON.stringify(target.slice(0, 200))}, not its own digest` });
        continue;
      }
      if (!(await hasBytes(digest))) {
        await found(
          { kind: 'layer-link-dangling', path: link, repository: name, digest, message: 'a layer link to a blob whose bytes are gone', repairable: true },
          async () => (await readLink(driver, link)) === digest && !(await exists(driver, layout.blobData(digest))),
        );
        continue;
      }
      layers.add(digest);
    }

    // Revisions: the manifests of the repository.
    const revisions = new Map<string, ReturnType<typeof parseManifest> | undefined>();
    for (const { digest, path, odd } of await linkFolders(`${repo}/_manifests/revisions`)) {
      if (odd) {
        await found({ kind: 'link-mismatch', severity: 'warning', path: odd, repository: name, message: 'a folder under _manifests/revisions that is no digest' });
        continue;
      }
      const link = `${path}/link`;
      const target = await readLink(driver, link);
      if (target === undefined) continue;
      if (target !== digest) {
        await found({ kind: 'link-mismatch', path: link, repository: name, digest, message: `the link holds ${JSON.stringify(target.slice(0, 200))}, not its own digest` });
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await driver.getContent(layout.blobData(digest));
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
        await found(
          { kind: 'revision-dangling', path: link, repository: name, digest, message: 'a manifest revision whose bytes are gone', repairable: true },
          async () => (await readLink(driver, link)) === digest && !(await exists(driver, layout.blobData(digest))),
        );
        continue;
      }
      report.manifests += 1;
      revisions.set(digest, parseStored(bytes));
      if (!revisions.get(digest)) {
        await found({ kind: 'manifest-invalid', path: layout.blobData(digest), repository: name, digest, message: 'the manifest does not parse as an OCI or Docker manifest or index' });
      }
    }
    const fillsOnDemand = (await options.isCache?.(name)) ?? false;
    for (const [digest, manifest] of revisions) {
      if (!manifest || fillsOnDemand) continue;
      for (const blob of manifest.blobs) {
        if (!(await hasBytes(blob.digest))) {
          await found({ kind: 'manifest-blob-missing', path: layout.manifestRevisionLink(name, digest), repository: name, digest, message: `it references ${blob.digest}, whose bytes are gone` });
        } else if (!layers.has(blob.digest) && !(await exists(driver, layout.layerLink(name, blob.digest)))) {
          await found({ kind: 'manifest-layer-unlinked', path: layout.manifestRevisionLink(name, digest), repository: name, digest, message: `it references ${blob.digest}, which the repository has no layer link for (pulls of it get 404)` });
        }
      }
      for (const child of manifest.manifests) {
        if (!revisions.has(child.digest) && !(await exists(driver, layout.manifestRevisionLink(name, child.digest)))) {
          await found({ kind: 'manifest-child-missing', path: layout.manifestRevisionLink(name, digest), repository: name, digest, message: `the index names ${child.digest}, which the repository lacks` });
        }
      }
      const subject = manifest.subject?.digest;
      if (subject && !revisions.has(subject) && !(await exists(driver, layout.manifestRevisionLink(name, subject)))) {
        await found({ kind: 'referrer-subject-missing', severity: 'warning', path: layout.manifestRevisionLink(name, digest), repository: name, digest, message: `its subject ${subject} is not in the repository (allowed: a referrer may be pushed before its subject)` });
      }
    }
    const hasRevision = async (digest: string): Promise<boolean> =>
      (await readLink(driver, layout.manifestRevisionLink(name, digest), digest)) !== undefined && (await hasBytes(digest));

    // Tags.
    for (const tagFolder of await listOrEmpty(driver, layout.tags(name))) {
      const tag = lastPart(tagFolder);
      report.tags += 1;
      if (!isValidTag(tag)) {
        await found({ kind: 'tag-invalid', severity: 'warning', path: tagFolder, repository: name, message: `${JSON.stringify(tag)} is no valid tag: no client can ask for it` });
        continue;
      }
      const link = layout.tagCurrentLink(name, tag);
      const target = await readLink(driver, link);
      const current = async (): Promise<boolean> => {
        const again = await readLink(driver, link);
        return again === target && (again === undefined || !validDigest(again) || !(await hasRevision(again)));
      };
      if (target === undefined || !validDigest(target)) {
        await found({ kind: 'tag-dangling', path: tagFolder, repository: name, message: `tag ${tag} has no readable link`, repairable: true }, current);
      } else if (!(await hasRevision(target))) {
        await found({ kind: 'tag-dangling', path: tagFolder, repository: name, digest: target, message: `tag ${tag} names a manifest the repository lacks`, repairable: true }, current);
      }
    }

    // Referrers: _referrers/<alg>/<subject hex>/<alg>/<hex>/link.
    for (const subject of await linkFolders(`${repo}/_referrers`)) {
      if (subject.odd) continue;
      for (const { digest, path, odd } of await linkFolders(subject.path)) {
        if (odd) continue;
        const link = `${path}/link`;
        if (!(await hasRevision(digest))) {
          await found(
            { kind: 'referrer-dangling', path: link, repository: name, digest, message: `a referrer entry of ${subject.digest} whose manifest the repository lacks`, repairable: true },
            async () => (await exists(driver, link)) && !(await hasRevision(digest)),
          );
        }
      }
    }

    // Uploads.
    for (const upload of await listOrEmpty(driver, `${repo}/_uploads`)) {
      report.uploads += 1;
      const uuid = lastPart(upload);
      const startedAt = await readLink(driver, `${upload}/startedat`);
      const started = startedAt === undefined ? Number.NaN : Date.parse(startedAt);
      const age = Number.isNaN(started) ? await ageOf(upload) : now - started;
      if (!UUID.test(uuid)) {
        await found({ kind: 'upload-orphan', path: upload, repository: name, message: 'a folder under _uploads that is no upload id', repairable: true });
      } else if (driver.name !== 's3' && !(await exists(driver, `${upload}/data`)) && age >= options.graceMs) {
        // (An S3 writer keeps its bytes apart until commit: there an upload without data may be one under way.)
        await found({ kind: 'upload-orphan', path: upload, repository: name, message: 'an upload without its data (no client can continue it)', repairable: true }, async () => (await exists(driver, upload)) && !(await exists(driver, `${upload}/data`)));
      } else if (age >= options.uploadTtlMs) {
        await found({ kind: 'upload-abandoned', severity: 'warning', path: upload, repository: name, message: `an upload started ${Math.round(age / 3_600_000)} h ago and never finished`, repairable: true });
      }
    }
  }

  /** The `<alg>/<hex>` folders under `folder`, as digests; anything else as `odd`. */
  async function linkFolders(folder: string): Promise<{ digest: string; path: string; odd?: string }[]> {
    const out: { digest: string; path: string; odd?: string }[] = [];
    for (const algorithmFolder of await listOrEmpty(driver, folder)) {
      const algorithm = lastPart(algorithmFolder);
      for (const hexFolder of await listOrEmpty(driver, algorithmFolder)) {
        const digest = `${algorithm}:${lastPart(hexFolder)}`;
        out.push(validDigest(digest) ? { digest, path: hexFolder } : { digest, path: hexFolder, odd: hexFolder });
      }
    }
    return out;
  }

  // ---- Berth's own state and anything else at the top ----
  for (const top of await listOrEmpty(driver, '/')) {
    if (!TOP_LEVEL.has(lastPart(top))) await found({ kind: 'unknown-path', severity: 'warning', path: top, message: 'not part of the storage layout (left alone)' });
  }
  const stateFiles = await walkFiles(driver, layout.BERTH_STATE);
  let checked = 0;
  for (const file of stateFiles) {
    options.onProgress?.({ phase: 'state', done: ++checked, total: stateFiles.length });
    if (!isJsonState(file)) continue;
    let text: string;
    try {
      text = (await driver.getContent(file)).toString('utf8');
    } catch (err) {
      if (err instanceof PathNotFoundError) continue;
      throw err;
    }
    try {
      JSON.parse(text);
    } catch {
      await found({ kind: 'state-invalid', path: file, message: 'Berth state that does not parse as JSON' }, async () => {
        try {
          JSON.parse((await driver.getContent(file)).toString('utf8'));
          return false;
        } catch (err) {
          return !(err instanceof PathNotFoundError);
        }
      });
    }
  }
  return report;
}

function validDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** A stored manifest parsed as it was served (by its own mediaType), or undefined when it does not parse. */
function parseStored(bytes: Buffer): ReturnType<typeof parseManifest> | undefined {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    return parseManifest(bytes, mediaTypeOf(body));
  } catch (err) {
    if (err instanceof RegistryError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Files of Berth's state that are JSON: signing keys, token records, build records, deliveries. */
function isJsonState(path: string): boolean {
  return path.endsWith('.json') || path.endsWith('.jwk') || path.includes('/builds/deliveries/');
}

async function walkFiles(driver: StorageDriver, folder: string): Promise<string[]> {
  const files: string[] = [];
  const pending = [folder];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const child of await listOrEmpty(driver, dir)) {
      const info = await driver.stat(child).catch((err: unknown) => {
        if (err instanceof PathNotFoundError) return undefined;
        throw err;
      });
      if (!info) continue;
      if (info.isDirectory) pending.push(child);
      else files.push(child);
    }
  }
  return files.sort();
}

/** Repository folders holding uploads, also those with nothing else yet (catalog's walk skips them). */
async function repositoriesWithUploads(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  async function walk(dir: string, name: string): Promise<void> {
    for (const child of await listOrEmpty(driver, dir)) {
      const part = lastPart(child);
      if (part === '_uploads' && name && isValidName(name)) names.push(name);
      if (!layout.isRepositoryDataFolder(part)) await walk(child, name ? `${name}/${part}` : part);
    }
  }
  await walk(layout.REPOSITORIES, '');
  return names;
}
