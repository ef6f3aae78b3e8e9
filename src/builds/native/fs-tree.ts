/**
 * A stage's root filesystem as a tree of entries (metadata only): what the layers below hold,
 * merged with OCI whiteouts, so the builder can resolve destination paths through the image's
 * symlinks (`/lib -> usr/lib`), keep existing folders' owners, find `/etc/passwd`, and copy from
 * a stage (`COPY --from`). File bytes are never held here: a file points at where its bytes are
 * (a file on disk, or an entry inside a registry layer, extracted on demand).
 */
import { posix } from 'node:path';

export type NodeType = 'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo';

/** Where a file's bytes are. Mutable on purpose: extracting a layer entry fills `disk` in place, for every tree sharing it. */
export interface Content {
  /** A file on disk: a build-context file (`fromContext`) or one this build extracted or unpacked. */
  disk?: string;
  /** Context files are opened without following symlinks and checked against the size seen. */
  fromContext?: boolean;
  /** An entry of a layer blob in the registry, not extracted yet. */
  layer?: { repository: string; digest: string; mediaType: string; path: string };
}

/** What a tar entry and a tree node share. */
interface EntryMetadata {
  /** Permission bits, with setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes of a regular file; 0 otherwise. */
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export interface FsNode extends EntryMetadata {
  type: NodeType;
  content?: Content;
  /** Index of the stage layer that put the entry here (whiteouts hide only lower layers' entries). */
  layer: number;
  children?: Map<string, FsNode>;
}

/** A path that cannot be used as asked: through a file, a symlink loop, ... */
export class FsPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FsPathError';
  }
}

const MAX_LINK_HOPS = 40;

/** Cleans a path to the tree's form: relative, `/`-separated, no `.`/`..`/empty parts; '' is the root. */
export function cleanPath(path: string): string {
  const normal = posix.normalize(`/${path}`);
  return normal === '/' ? '' : normal.slice(1).replace(/\/$/, '');
}

export function splitPath(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

export function joinPath(...parts: string[]): string {
  return cleanPath(parts.filter((p) => p !== '').join('/'));
}

export function directoryNode(meta: Partial<FsNode> = {}): FsNode {
  return { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, layer: -1, ...meta, children: new Map() };
}

export class FsTree {
  readonly root: FsNode = directoryNode();

  /** The entry at `path` without following any symlink (like lstat); undefined when absent. */
  get(path: string): FsNode | undefined {
    let node: FsNode | undefined = this.root;
    for (const part of splitPath(path)) {
      node = node.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /**
   * Resolves `path` inside the tree, following symlinks as if the tree were the root filesystem
   * (an absolute target starts at the tree's root and `..` stops there), so nothing resolves
   * outside. `followLast` follows a symlink in the last component too. Returns the real path and
   * its entry (undefined when the path, or the rest of it, does not exist).
   */
  resolve(path: string, followLast: boolean): { path: string; node: FsNode | undefined } {
    const pending = splitPath(cleanPath(path));
    const done: string[] = [];
    let node: FsNode = this.root;
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        done.pop();
        node = this.get(done.join('/')) ?? this.root;
        continue;
      }
      if (node.type !== 'directory') throw new FsPathError(`/${done.join('/')} is not a directory`);
      const child = node.children!.get(part);
      if (!child) return { path: [...done, part, ...pending].join('/'), node: undefined };
      if (child.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > MAX_LINK_HOPS) throw new FsPathError(`too many levels of symbolic links at /${[...done, part].join('/')}`);
        const target = child.linkname ?? '';
        if (target.startsWith('/')) {
          done.length = 0;
          node = this.root;
        }
        pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
        continue;
      }
      done.push(part);
      node = child;
    }
    return { path: done.join('/'), node };
  }

  /**
   * Puts `node` at `path` (its parent must be a folder). A folder over a folder keeps the
   * children and takes the new metadata; anything else replaces what was there.
   */
  set(path: string, node: FsNode): void {
    const parts = splitPath(path);
    if (parts.length === 0) {
      if (node.type === 'directory') Object.assign(this.root, { ...node, children: this.root.children });
      return;
    }
    const parent = this.get(parts.slice(0, -1).join('/'));
    if (!parent || parent.type !== 'directory') throw new FsPathError(`/${parts.slice(0, -1).join('/')} is not a directory`);
    const name = parts[parts.length - 1]!;
    const existing = parent.children!.get(name);
    if (existing?.type === 'directory' && node.type === 'directory') {
      const { children: _ignored, ...meta } = node;
      Object.assign(existing, meta);
      return;
    }
    parent.children!.set(name, node.type === 'directory' ? { ...node, children: node.children ?? new Map() } : node);
  }

  /** Makes every missing folder on `path` (plain 0755 root folders, as an extractor would). */
  ensureDirectories(path: string, layer: number): void {
    let node = this.root;
    for (const part of splitPath(path)) {
      let child = node.children!.get(part);
      if (!child || child.type !== 'directory') {
        child = directoryNode({ layer });
        node.children!.set(part, child);
      }
      node = child;
    }
  }

  delete(path: string): void {
    const parts = splitPath(path);
    const parent = this.get(parts.slice(0, -1).join('/'));
    parent?.children?.delete(parts[parts.length - 1]!);
  }

  /** A deep copy (nodes copied; `content` objects shared, so an extraction serves both). */
  clone(): FsTree {
    const copy = new FsTree();
    const cloneNode = (node: FsNode): FsNode => {
      const out: FsNode = { ...node };
      if (node.children) out.children = new Map([...node.children].map(([name, child]) => [name, cloneNode(child)]));
      return out;
    };
    Object.assign(copy.root, cloneNode(this.root));
    return copy;
  }

  /** Every entry under `path` (excluded), depth first, parents before children, names sorted. */
  *walk(path: string): Generator<[string, FsNode]> {
    const start = this.get(path);
    if (!start?.children) return;
    const names = [...start.children.keys()].sort();
    for (const name of names) {
      const child = start.children.get(name)!;
      const childPath = joinPath(path, name);
      yield [childPath, child];
      if (child.type === 'directory') yield* this.walk(childPath);
    }
  }
}

/** One tar entry of a layer as the index keeps it: metadata only. */
export interface LayerEntry extends EntryMetadata {
  path: string;
  type: NodeType | 'link';
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Applies one layer's entries (in tar order) to the tree as an OCI runtime would: whiteouts hide
 * lower layers' entries, hardlinks become files sharing their target's bytes.
 */
export function applyLayer(
  tree: FsTree,
  entries: LayerEntry[],
  layer: number,
  contentOf: (path: string) => Content,
): void {
  for (const entry of entries) {
    const path = cleanPath(entry.path);
    if (path === '') continue;
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    if (base === OPAQUE) {
      const folder = tree.get(dir);
      if (folder?.children) for (const [name, child] of folder.children) if (child.layer < layer) folder.children.delete(name);
      continue;
    }
    if (base.startsWith(WHITEOUT)) {
      const hidden = joinPath(dir, base.slice(WHITEOUT.length));
      const node = tree.get(hidden);
      if (node && node.layer < layer) tree.delete(hidden);
      continue;
    }
    tree.ensureDirectories(dir, layer);
    if (entry.type === 'link') {
      const target = tree.get(cleanPath(entry.linkname ?? ''));
      if (!target || target.type !== 'file') continue; // a dangling hardlink extracts to nothing
      tree.set(path, { ...target, layer });
      continue;
    }
    const node: FsNode = {
      type: entry.type,
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      size: entry.type === 'file' ? entry.size : 0,
      layer,
    };
    if (entry.linkname !== undefined && entry.type === 'symlink') node.linkname = entry.linkname;
    if (entry.devmajor !== undefined) node.devmajor = entry.devmajor;
    if (entry.devminor !== undefined) node.devminor = entry.devminor;
    if (entry.type === 'file') node.content = contentOf(path);
    tree.set(path, node);
  }
}
