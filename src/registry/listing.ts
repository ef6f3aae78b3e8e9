/** Reading folders of the storage layout: listings that may not exist yet, and digests by folder. */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { isAlgorithm } from './digest.js';

/** The children of `path` (full paths), or none when it does not exist. */
export async function listOrEmpty(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (err) {
    if (err instanceof PathNotFoundError) return [];
    throw err;
  }
}

/** The last component of a path. */
export function lastPart(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Digests below an `<alg>/<hex>/...` folder (revisions, layer links, referrers), unknown algorithms skipped. */
export async function digestsUnder(driver: StorageDriver, folder: string): Promise<string[]> {
  const digests: string[] = [];
  for (const algorithmFolder of await listOrEmpty(driver, folder)) {
    const algorithm = lastPart(algorithmFolder);
    if (!isAlgorithm(algorithm)) continue;
    for (const hexFolder of await listOrEmpty(driver, algorithmFolder)) digests.push(`${algorithm}:${lastPart(hexFolder)}`);
  }
  return digests;
}
