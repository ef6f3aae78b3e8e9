/**
 * Where COPY and ADD read from: the build context on disk, or another stage's filesystem
 * (`COPY --from`). Both are seen through one small interface, and every path is resolved inside
 * its root: symlinks are followed as if the root were `/` (an absolute target starts at the root,
 * `..` stops there), so nothing is ever read from outside the context.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanPath, FsPathError, type FsNode, type FsTree, joinPath, splitPath } from './fs-tree.js';
import { compilePattern, hasWildcard, type IgnoreMatcher } from './patterns.js';

export interface SourceFs {
  /** For messages: "build context" or "stage build". */
  readonly label: string;
  /** The entry at `path` without following a symlink in its last component; parents must be real folders. */
  lstat(path: string): Promise<FsNode | undefined>;
  /** Names in a folder, sorted. */
  list(path: string): Promise<string[]>;
}

/** The build context: a folder on disk, minus what `.dockerignore` excludes. */
export class ContextFs implements SourceFs {
  readonly label = 'build context';

  constructor(
    /** The context folder, already resolved with realpath. */
    readonly root: string,
    private readonly ignore?: IgnoreMatcher,
  ) {}

  async lstat(path: string): Promise<FsNode | undefined> {
    const excluded = this.ignore?.excludes(path) ?? false;
    const full = join(this.root, path);
    let stat;
    try {
      stat = await lstat(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    const meta = { mode: stat.mode & 0o7777, uid: 0, gid: 0, mtime: 0, size: 0, layer: -1 };
    if (stat.isDirectory()) {
      // An excluded folder stays visible when an exception may re-include something inside it.
      if (excluded && !this.ignore!.hasExceptions) return undefined;
      return { type: 'directory', ...meta };
    }
    if (excluded) return undefined;
    if (stat.isFile()) return { type: 'file', ...meta, size: stat.size, content: { disk: full, fromContext: true } };
    if (stat.isSymbolicLink()) return { type: 'symlink', ...meta, mode: 0o777, linkname: await readlink(full) };
    return undefined; // sockets, fifos and devices in a source tree are not build input
  }

  async list(path: string): Promise<string[]> {
    const names = (await readdir(join(this.root, path))).sort();
    if (!this.ignore || this.ignore.empty) return names;
    return names.filter((name) => !this.ignore!.excludes(joinPath(path, name)) || this.ignore!.hasExceptions);
  }
}

/** A stage's filesystem as a source. */
export class TreeFs implements SourceFs {
  constructor(
    readonly label: string,
    private readonly tree: FsTree,
  ) {}

  async lstat(path: string): Promise<FsNode | undefined> {
    return this.tree.get(path);
  }

  async list(path: string): Promise<string[]> {
    return [...(this.tree.get(path)?.children?.keys() ?? [])].sort();
  }
}

const MAX_LINK_HOPS = 40;

/**
 * Resolves `path` in `fs`, following symlinks inside its root. Returns the real path and its entry,
 * or undefined for the entry when it does not exist.
 */
export async function resolveIn(fs: SourceFs, path: string, followLast: boolean): Promise<{ path: string; node: FsNode | undefined }> {
  const pending = splitPath(cleanPath(path));
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, part].join('/');
    const node = await fs.lstat(candidate);
    if (!node) return { path: [candidate, ...pending].join('/'), node: undefined };
    if (node.type === 'symlink' && (pending.length > 0 || followLast)) {
      if (++hops > MAX_LINK_HOPS) throw new FsPathError(`too many levels of symbolic links at /${candidate} in the ${fs.label}`);
      const target = node.linkname ?? '';
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    if (pending.length > 0 && node.type !== 'directory') throw new FsPathError(`/${candidate} is not a directory in the ${fs.label}`);
    done.push(part);
  }
  const real = done.join('/');
  return { path: real, node: real === '' ? await rootNode(fs) : await fs.lstat(real) };
}

async function rootNode(fs: SourceFs): Promise<FsNode> {
  return (await fs.lstat('')) ?? { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, layer: -1 };
}

/** Every entry under folder `path` (excluded), parents before children, names sorted; symlinks are not followed. */
export async function* walk(fs: SourceFs, path: string): AsyncGenerator<[string, FsNode]> {
  for (const name of await fs.list(path)) {
    const childPath = joinPath(path, name);
    const node = await fs.lstat(childPath);
    if (!node) continue;
    yield [childPath, node];
    if (node.type === 'directory') yield* walk(fs, childPath);
  }
}

/**
 * The paths a wildcard source matches, sorted. The literal folders before the first wildcard are
 * resolved (following symlinks); below them, the walk does not follow symlinks, and a matching
 * folder is not searched further (its contents come with it).
 */
export async function expandGlob(fs: SourceFs, pattern: string): Promise<string[]> {
  const parts = splitPath(cleanPath(pattern));
  const firstWild = parts.findIndex((part) => hasWildcard(part));
  if (firstWild < 0) return [parts.join('/')];
  const base = await resolveIn(fs, parts.slice(0, firstWild).join('/'), true);
  if (base.node?.type !== 'directory') return [];
  const restParts = parts.slice(firstWild);
  const matcher = compilePattern(restParts.join('/'));
  const maxDepth = restParts.some((part) => part.includes('**')) ? Number.POSITIVE_INFINITY : restParts.length;
  const matches: string[] = [];
  const search = async (dir: string, relative: string, depth: number): Promise<void> => {
    for (const name of await fs.list(dir)) {
      const rel = relative === '' ? name : `${relative}/${name}`;
      const full = joinPath(dir, name);
      if (matcher.test(rel)) {
        matches.push(full);
        continue;
      }
      if (depth + 1 >= maxDepth) continue;
      const node = await fs.lstat(full);
      if (node?.type === 'directory') await search(full, rel, depth + 1);
    }
  };
  await search(base.path, '', 0);
  return matches.sort();
}
