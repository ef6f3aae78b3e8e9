/**
 * Local files only (the filesystem driver, and Berth's files outside storage such as the users
 * file). Whether a file on this host can be read by users other than its owner: its mode grants read to
 * its group or to everyone, and every folder above it lets that same class through. (Root reads
 * everything; this is about everyone else.)
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const GROUP = { read: 0o040, search: 0o010 };
const OTHERS = { read: 0o004, search: 0o001 };

export async function readableByOthers(path: string): Promise<boolean> {
  const file = resolve(path);
  const mode = (await stat(file)).mode;
  const open = [GROUP, OTHERS].filter((who) => (mode & who.read) !== 0);
  if (open.length === 0) return false;
  const folders: number[] = [];
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    folders.push((await stat(dir)).mode);
    if (dirname(dir) === dir) break;
  }
  return open.some((who) => folders.every((folder) => (folder & who.search) !== 0));
}
