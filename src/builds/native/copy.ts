/**
 * COPY and ADD as Docker does them, planned against the destination stage's filesystem: which
 * entries the new layer holds. Sources come from the build context or another stage (never from
 * outside the context: `..` that leaves it is an error, absolute paths start at its root, and
 * symlinks are resolved inside it). A folder source copies its contents; a symlink inside a copied
 * folder is copied as a symlink (its target is not read, wherever it points); a symlink named as
 * the source itself is followed, inside the context. Destinations resolve through the image's own
 * symlinks (`/lib -> usr/lib`), missing folders are created, and the folders on the way keep their
 * owner and mode. ADD unpacks local tar archives (plain or gzip) into the destination.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { entryOf, nodeStream, readTar, skip, sniffArchive } from './archive.js';
import { cleanPath, directoryNode, type FsNode, type FsTree, joinPath } from './fs-tree.js';
import type { LayerItem } from './layer.js';
import { hasWildcard } from './patterns.js';
import { expandGlob, resolveIn, type SourceFs, walk } from './sources.js';

/** A COPY or ADD that cannot be done as written (missing source, path outside the context, ...). */
export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyError';
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyPlan {
  sources: string[];
  dest: string;
  /** The stage's working directory (relative destinations start there). */
  workdir: string;
  from: SourceFs;
  /** Sources are the build context: `..` may not leave it, and owners become 0 (or --chown). */
  fromContext: boolean;
  /** The destination stage's filesystem; updated with what the layer adds. */
  tree: FsTree;
  /** The new layer's index in the stage (for whiteout bookkeeping). */
  layer: number;
  owner?: Owner;
  chmod?: number;
  /** ADD: local tar archives are unpacked. */
  unpack: boolean;
  /** A fresh path for a temporary file of this build. */
  tempFile: () => string;
  signal?: AbortSignal;
}

/** Plans the layer: its entries, keyed by their real path in the image. */
export async function planCopy(plan: CopyPlan): Promise<LayerItem[]> {
  const destAbs = cleanPath(plan.dest.startsWith('/') ? plan.dest : posix.join(plan.workdir || '/', plan.dest));
  // A destination ending in `/` (or `.`) is a folder; so is one that is a folder already.
  const destIsDir = plan.dest.endsWith('/') || plan.dest === '.' || plan.dest.endsWith('/.');
  if (plan.sources.length > 1 && !destIsDir) {
    throw new CopyError('with more than one source, the destination must be a directory and end with a /');
  }
  const placer = new Placer(plan.tree, plan.layer, plan.owner);
  for (const spec of plan.sources) {
    plan.signal?.throwIfAborted();
    const path = sourcePath(spec, plan.fromContext);
    const wild = hasWildcard(path);
    const matches = wild ? await expandGlob(plan.from, path) : [path];
    if (matches.length === 0) throw new CopyError(`no source files were specified: "${spec}" matches nothing in the ${plan.from.label}`);
    if (matches.length > 1 && !destIsDir) {
      throw new CopyError(`"${spec}" matches ${matches.length} files: the destination must be a directory and end with a /`);
    }
    for (const match of matches) {
      const { path: real, node } = await resolveIn(plan.from, match, true);
      if (!node) throw new CopyError(`"${spec}" not found in the ${plan.from.label}`);
      if (node.type === 'directory') {
        // The destination folder, when missing, is made like any missing folder (0755), not
        // with the source folder's mode: a context's root may well be 0700.
        placer.directory(destAbs, createdDirectory(plan), true);
        for await (const [childPath, child] of walk(plan.from, real)) {
          plan.signal?.throwIfAborted();
          const relative = real === '' ? childPath : childPath.slice(real.length + 1);
          placer.put(joinPath(destAbs, relative), copied(child, plan));
        }
        continue;
      }
      if (plan.unpack && plan.fromContext && node.type === 'file') {
        const compression = await sniffArchive(node.content!.disk!);
        if (compression) {
          await unpack(plan, placer, spec, node.content!.disk!, compression, destAbs);
          continue;
        }
      }
      const name = posix.basename(match === '' ? real : match);
      const target = destIsDir || placer.isDirectory(destAbs) ? joinPath(destAbs, name) : destAbs;
      if (target === '') throw new CopyError(`cannot copy "${spec}" over /`);
      placer.put(target, copied(node, plan));
    }
  }
  return placer.items();
}

/** A source path, relative to its root; `..` that would leave the build context is refused. */
function sourcePath(spec: string, fromContext: boolean): string {
  if (fromContext && !spec.startsWith('/')) {
    const normal = posix.normalize(spec);
    if (normal === '..' || normal.startsWith('../')) throw new CopyError(`"${spec}" is outside the build context`);
  }
  return cleanPath(spec);
}

/** The entry as the new layer holds it: owner and mode per the rules and flags. */
function copied(node: FsNode, plan: CopyPlan): FsNode {
  const out: FsNode = { ...node, layer: plan.layer };
  delete out.children;
  // Context files belong to root unless --chown; files from a stage or an archive keep theirs.
  const owner = plan.owner ?? (plan.fromContext ? { uid: 0, gid: 0 } : { uid: node.uid, gid: node.gid });
  out.uid = owner.uid;
  out.gid = owner.gid;
  if (plan.chmod !== undefined && (node.type === 'file' || node.type === 'directory')) out.mode = plan.chmod;
  return out;
}

/** A folder the copy has to make: 0755, owned by --chown or root. */
function createdDirectory(plan: CopyPlan): FsNode {
  return directoryNode({ layer: plan.layer, ...(plan.owner ?? {}) });
}

/** Places entries in the destination tree and collects them, with the folders on their way. */
class Placer {
  private readonly placed = new Map<string, FsNode>();

  constructor(
    private readonly tree: FsTree,
    private readonly layer: number,
    private readonly owner: Owner | undefined,
  ) {}

  items(): LayerItem[] {
    return [...this.placed].map(([path, node]) => ({ path, node }));
  }

  isDirectory(path: string): boolean {
    return this.tree.resolve(path, true).node?.type === 'directory';
  }

  /** The folder at `path` (creating it, and its parents, when missing); an existing one keeps its metadata when `keep`. */
  directory(path: string, node: FsNode, keep: boolean): string {
    const real = this.ensureDirectory(path, node);
    if (!keep) this.put(path, node);
    return real;
  }

  /** Puts one entry at `path` (a path in the image; its folders resolve through symlinks). */
  put(path: string, node: FsNode): void {
    const slash = path.lastIndexOf('/');
    const parent = this.ensureDirectory(slash < 0 ? '' : path.slice(0, slash));
    const real = joinPath(parent, path.slice(slash + 1));
    const existing = this.tree.get(real);
    if (node.type === 'directory') {
      if (existing?.type === 'symlink') {
        // Copying a folder onto a symlink to a folder fills the folder it points at.
        this.ensureDirectory(path);
        return;
      }
      if (existing && existing.type !== 'directory') throw new CopyError(`cannot copy a directory to /${real}: it is not a directory`);
    } else if (existing?.type === 'directory') {
      throw new CopyError(`cannot replace the directory /${real} with a ${node.type}`);
    }
    this.record(real, node);
  }

  /** Resolves folder `path` through the tree's symlinks, creating what is missing; returns its real path. */
  private ensureDirectory(path: string, created?: FsNode, depth = 0): string {
    if (depth > 40) throw new CopyError(`too many levels of symbolic links at /${path}`);
    let real = '';
    const parts = path === '' ? [] : path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const candidate = joinPath(real, parts[i]!);
      const node = this.tree.get(candidate);
      const last = i === parts.length - 1;
      if (!node) {
        const meta = last && created ? created : directoryNode({ layer: this.layer, ...(this.owner ?? {}) });
        this.record(candidate, { ...meta, type: 'directory', layer: this.layer });
        real = candidate;
      } else if (node.type === 'directory') {
        // A folder on the way keeps its owner and mode; the layer repeats it as it is.
        if (!this.placed.has(candidate)) this.record(candidate, { ...node });
        real = candidate;
      } else if (node.type === 'symlink') {
        const target = this.tree.resolve(candidate, true);
        if (target.node && target.node.type !== 'directory') throw new CopyError(`/${candidate} is not a directory`);
        // Continue in the folder it points at (made when missing), repeating its folders as any other.
        real = this.ensureDirectory(target.path, undefined, depth + 1);
      } else {
        throw new CopyError(`/${candidate} is not a directory`);
      }
    }
    return real;
  }

  private record(real: string, node: FsNode): void {
    const entry: FsNode = { ...node };
    delete entry.children;
    this.placed.set(real, entry);
    this.tree.set(real, entry.type === 'directory' ? { ...entry, children: new Map() } : entry);
  }
}

/** ADD of a local archive: its entries go under the destination folder (none may leave it). */
async function unpack(plan: CopyPlan, placer: Placer, spec: string, file: string, compression: Parameters<typeof readTar>[1], dest: string) {
  placer.directory(dest, createdDirectory(plan), true);
  const files = new Map<string, FsNode>();
  await readTar(
    createReadStream(file),
    compression,
    async (header, stream) => {
      const entry = entryOf(header);
      if (!entry) return skip(stream);
      const normal = posix.normalize(entry.path.replace(/^\/+/, ''));
      if (normal === '..' || normal.startsWith('../')) throw new CopyError(`archive "${spec}" has an entry outside its folder: ${entry.path}`);
      const path = cleanPath(normal);
      if (path === '') return skip(stream);
      let node: FsNode;
      if (entry.type === 'link') {
        // Hardlinks become files sharing the bytes of their (earlier) target.
        const target = files.get(cleanPath(entry.linkname ?? ''));
        if (!target) throw new CopyError(`archive "${spec}" has a hardlink to a file it does not hold: ${entry.path}`);
        await skip(stream);
        node = { ...target };
      } else {
        node = { type: entry.type, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, size: 0, layer: plan.layer };
        if (entry.type === 'file') {
          const temp = plan.tempFile();
          await pipeline(nodeStream(stream), createWriteStream(temp), { signal: plan.signal });
          node.size = entry.size;
          node.content = { disk: temp };
        } else {
          await skip(stream);
          if (entry.type === 'symlink') node.linkname = entry.linkname ?? '';
          if (entry.devmajor !== undefined) node.devmajor = entry.devmajor;
          if (entry.devminor !== undefined) node.devminor = entry.devminor;
        }
        node = copied(node, { ...plan, fromContext: false });
      }
      placer.put(joinPath(dest, path), node);
      if (node.type === 'file') files.set(path, node);
    },
    plan.signal,
  );
}

/** WORKDIR: the folder and its missing parents (owned by `owner`); nothing when it exists already. */
export function planDirectory(tree: FsTree, path: string, layer: number, owner?: Owner): LayerItem[] {
  try {
    if (tree.resolve(path, true).node?.type === 'directory') return [];
  } catch (err) {
    throw new CopyError((err as Error).message);
  }
  const placer = new Placer(tree, layer, owner);
  placer.directory(path, directoryNode({ layer, ...(owner ?? {}) }), true);
  return placer.items();
}
