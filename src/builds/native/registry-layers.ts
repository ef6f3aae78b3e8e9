/**
 * Base-image layers, read through the registry layer as any client would (a blob readable in a
 * repository only through its link there): listing a layer's entries for the filesystem index,
 * and extracting the few files a build needs (`COPY --from` an image stage, `/etc/passwd`) to
 * temporary files. Both stream the layer once; nothing is held whole.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Registry } from '../../registry/registry.js';
import { compressionOfMediaType, entryOf, nodeStream, readTar, skip } from './archive.js';
import { cleanPath, type Content, type LayerEntry } from './fs-tree.js';

export interface RegistryLayer {
  repository: string;
  digest: string;
  mediaType: string;
}

export class RegistryLayers {
  /** Entry lists by layer digest: one read per layer per build, however many stages share it. */
  private readonly indexes = new Map<string, Promise<LayerEntry[]>>();
  private extracted = 0;

  constructor(
    private readonly registry: Registry,
    /** A folder of this build's own, for extracted files. */
    private readonly tempDir: string,
    private readonly signal?: AbortSignal,
  ) {}

  /** The layer's entries in tar order, metadata only. */
  entries(layer: RegistryLayer): Promise<LayerEntry[]> {
    let entries = this.indexes.get(layer.digest);
    if (!entries) {
      entries = this.list(layer);
      this.indexes.set(layer.digest, entries);
      entries.catch(() => this.indexes.delete(layer.digest));
    }
    return entries;
  }

  private async list(layer: RegistryLayer): Promise<LayerEntry[]> {
    const entries: LayerEntry[] = [];
    await readTar(
      await this.open(layer),
      compressionOfMediaType(layer.mediaType),
      async (header, content) => {
        const entry = entryOf(header);
        if (entry) entries.push(entry);
        await skip(content);
      },
      this.signal,
    );
    return entries;
  }

  /**
   * Extracts the files `contents` point at (entries of registry layers) to temporary files and
   * points them there (`content.disk`), one pass per layer.
   */
  async extract(contents: Content[]): Promise<void> {
    const byLayer = new Map<string, { layer: RegistryLayer; wanted: Map<string, Content[]> }>();
    for (const content of contents) {
      if (content.disk || !content.layer) continue;
      const { path, ...layer } = content.layer;
      let group = byLayer.get(layer.digest);
      if (!group) {
        group = { layer, wanted: new Map() };
        byLayer.set(layer.digest, group);
      }
      const key = cleanPath(path);
      group.wanted.set(key, [...(group.wanted.get(key) ?? []), content]);
    }
    for (const { layer, wanted } of byLayer.values()) {
      const found = new Set<string>();
      await readTar(
        await this.open(layer),
        compressionOfMediaType(layer.mediaType),
        async (header, stream) => {
          const waiting = wanted.get(cleanPath(header.name));
          const type = header.type ?? 'file';
          if (!waiting || (type !== 'file' && type !== 'contiguous-file')) return skip(stream);
          const file = join(this.tempDir, `extracted-${++this.extracted}`);
          await pipeline(nodeStream(stream), createWriteStream(file), { signal: this.signal });
          // A path written twice in one layer: the last copy is the one the index kept.
          for (const content of waiting) content.disk = file;
          found.add(cleanPath(header.name));
        },
        this.signal,
      );
      const missing = [...wanted.keys()].find((path) => !found.has(path));
      if (missing !== undefined) throw new Error(`layer ${layer.digest} has no file ${missing}`);
    }
  }

  private async open(layer: RegistryLayer) {
    await this.registry.blobs.stat(layer.repository, layer.digest);
    return this.registry.blobs.read(layer.digest);
  }
}
