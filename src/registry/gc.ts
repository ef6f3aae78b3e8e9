/**
 * Garbage collection: frees the bytes no manifest needs any more.
 *
 * Mark: every manifest revision of every repository, and the blobs those manifests reference,
 * are kept. Sweep:
 * - a repository's layer link to a blob none of its manifests references is removed;
 * - blob bytes that no repository's manifest references are deleted;
 * - uploads started longer ago than `uploadTtlMs` are deleted.
 * Anything written less than `graceMs` ago is kept whatever it looks like: it may belong to a push
 * under way (blobs are uploaded and linked before the manifest that references them arrives).
 * That grace period is the compromise that lets gc run online; a cross-repository mount of an
 * otherwise unreferenced old blob while gc runs can still lose that blob, so run gc when no
 * pushes are under way if in doubt (a manifest push then fails cleanly with MANIFEST_BLOB_UNKNOWN).
 */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { deleteIfPresent, readLink } from './blobs.js';
import { listRepositories } from './catalog.js';
import { isAlgorithm } from './digest.js';
import * as layout from './layout.js';

export interface GcOptions {
  /** Report what would go, delete nothing. */
  dryRun: boolean;
  /** Things younger than this are kept (a push may be under way). */
  graceMs: number;
  /** Uploads older than this are abandoned and deleted. */
  uploadTtlMs: number;
  now?: Date;
}

export interface GcReport {
  repositories: number;
  manifests: number;
  blobsKept: number;
  blobsDeleted: number;
  bytesFreed: number;
  linksDeleted: number;
  uploadsDeleted: number;
}

async function listOrEmpty(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (err) {
    if (err instanceof PathNotFoundError) return [];
    throw err;
  }
}

function lastPart(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Digests below an `<alg>/<hex>/...` folder (revisions, layer links). */
async function digestsUnder(driver: StorageDriver, folder: string): Promise<string[]> {
  const digests: string[] = [];
  for (const algorithmFolder of await listOrEmpty(driver, folder)) {
    const algorithm = lastPart(algorithmFolder);
    if (!isAlgorithm(algorithm)) continue;
    for (const hexFolder of await listOrEmpty(driver, algorithmFolder)) digests.push(`${algorithm}:${lastPart(hexFolder)}`);
  }
  return digests;
}

/** Digests a stored manifest references: config, layers, child manifests, subject excluded. */
function referencesOf(bytes: Buffer): string[] {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    const descriptors = [body.config, ...(Array.isArray(body.layers) ? body.layers : []), ...(Array.isArray(body.manifests) ? body.manifests : [])];
    return descriptors.flatMap((d) => (typeof d === 'object' && d !== null && typeof (d as { digest?: unknown }).digest === 'string' ? [(d as { digest: string }).digest] : []));
  } catch {
    return [];
  }
}

export async function collectGarbage(driver: StorageDriver, options: GcOptions): Promise<GcReport> {
  const now = (options.now ?? new Date()).getTime();
  const isYoung = async (path: string): Promise<boolean> => {
    try {
      return now - (await driver.stat(path)).modified.getTime() < options.graceMs;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  };
  const report: GcReport = { repositories: 0, manifests: 0, blobsKept: 0, blobsDeleted: 0, bytesFreed: 0, linksDeleted: 0, uploadsDeleted: 0 };
  const marked = new Set<string>();

  for (const name of await listRepositories(driver)) {
    report.repositories += 1;
    const referenced = new Set<string>();
    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_manifests/revisions`)) {
      report.manifests += 1;
      referenced.add(digest);
      try {
        for (const ref of referencesOf(await driver.getContent(layout.blobData(digest)))) referenced.add(ref);
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
      }
    }
    for (const digest of referenced) marked.add(digest);

    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_layers`)) {
      if (referenced.has(digest)) continue;
      const link = layout.layerLink(name, digest);
      if (await isYoung(link)) {
        marked.add(digest);
        continue;
      }
      report.linksDeleted += 1;
      if (!options.dryRun) await deleteIfPresent(driver, link);
    }

    for (const upload of await listOrEmpty(driver, `${layout.repository(name)}/_uploads`)) {
      const startedAt = await readLink(driver, `${upload}/startedat`);
      const started = startedAt ? Date.parse(startedAt) : Number.NaN;
      const age = Number.isNaN(started) ? (await isYoung(upload)) ? 0 : Number.POSITIVE_INFINITY : now - started;
      if (age < options.uploadTtlMs) continue;
      report.uploadsDeleted += 1;
      if (!options.dryRun) await deleteIfPresent(driver, upload);
    }
  }

  for (const algorithmFolder of await listOrEmpty(driver, '/blobs')) {
    const algorithm = lastPart(algorithmFolder);
    if (!isAlgorithm(algorithm)) continue;
    for (const prefixFolder of await listOrEmpty(driver, algorithmFolder)) {
      for (const hexFolder of await listOrEmpty(driver, prefixFolder)) {
        const digest = `${algorithm}:${lastPart(hexFolder)}`;
        const data = `${hexFolder}/data`;
        if (marked.has(digest) || (await isYoung(data))) {
          report.blobsKept += 1;
          continue;
        }
        const size = await driver.stat(data).then(
          (info) => info.size,
          () => 0,
        );
        report.blobsDeleted += 1;
        report.bytesFreed += size;
        if (!options.dryRun) await deleteIfPresent(driver, hexFolder);
      }
    }
  }
  return report;
}
