/** Repositories: found by walking /repositories for folders that hold repository data. */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import * as layout from './layout.js';

const REPOSITORY_MARKERS = new Set(['_manifests', '_layers']);

/** Every repository name, sorted. */
export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  async function walk(dir: string, name: string): Promise<void> {
    let children: string[];
    try {
      children = await driver.list(dir);
    } catch (err) {
      if (err instanceof PathNotFoundError) return;
      throw err;
    }
    const parts = children.map((child) => child.slice(child.lastIndexOf('/') + 1));
    if (name && parts.some((part) => REPOSITORY_MARKERS.has(part))) names.push(name);
    await Promise.all(
      parts.filter((part) => !layout.isRepositoryDataFolder(part)).map((part) => walk(`${dir}/${part}`, name ? `${name}/${part}` : part)),
    );
  }
  await walk(layout.REPOSITORIES, '');
  return names.sort();
}
