/**
 * `--chown=user[:group]` (and WORKDIR's USER) to numeric ids: numbers as they are, names looked
 * up in the destination image's /etc/passwd and /etc/group, as Docker does. A user without a group
 * gets the same number as its group, as Docker's reference says.
 */
import type { Owner } from './copy.js';

export class OwnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OwnerError';
  }
}

/** Reads a small file of the image, or undefined when the image has none. */
export type ImageFileReader = (path: string) => Promise<string | undefined>;

const NUMBER = /^\d+$/;

function findId(text: string, name: string, field: number): number | undefined {
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts[0] === name && parts[field] !== undefined && NUMBER.test(parts[field]!)) return Number(parts[field]);
  }
  return undefined;
}

export async function resolveOwner(spec: string, readFile: ImageFileReader): Promise<Owner> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  if (user === '' && (group === undefined || group === '')) throw new OwnerError(`invalid owner "${spec}"`);
  const uid = user === '' ? 0 : await lookup(user, 'etc/passwd', 2, 'user', readFile);
  const gid = group === undefined || group === '' ? uid : await lookup(group, 'etc/group', 2, 'group', readFile);
  return { uid, gid };
}

async function lookup(name: string, file: string, field: number, what: string, readFile: ImageFileReader): Promise<number> {
  if (NUMBER.test(name)) {
    const id = Number(name);
    if (id > 0x7fffffff) throw new OwnerError(`${what} id ${name} is too large`);
    return id;
  }
  const text = await readFile(file);
  if (text === undefined) throw new OwnerError(`cannot resolve ${what} "${name}": the image has no /${file} (use a numeric id)`);
  const id = findId(text, name, field);
  if (id === undefined) throw new OwnerError(`cannot resolve ${what} "${name}": no such ${what} in the image's /${file}`);
  return id;
}
