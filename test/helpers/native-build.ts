/**
 * Helpers for native-builder tests: a registry on a temp filesystem driver, fixture contexts
 * copied to temp folders, build requests, and reading back what a build pushed (manifest, config,
 * layer entries) through the registry layer.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import type { BuildRequest } from '../../src/builds/builder.js';
import type { ImageConfig } from '../../src/builds/native/image-config.js';
import { createLogger } from '../../src/log.js';
import { Registry } from '../../src/registry/registry.js';

export const FIXTURES = join(import.meta.dirname, '../fixtures/builds');

export function registryOn(dir: string): Registry {
  return new Registry(createFilesystemDriver(dir), { maxBlobSize: 0, maxManifestSize: 4 * 1024 * 1024 }, createLogger('warn'));
}

/** Copies fixture folder `name` to `dest` (symlinks and odd files are made by the tests themselves). */
export async function copyFixture(name: string, dest: string): Promise<string> {
  await cp(join(FIXTURES, name), dest, { recursive: true });
  return dest;
}

export interface TestRequest extends BuildRequest {
  lines: string[];
}

export function buildRequest(contextDir: string, overrides: Partial<BuildRequest> = {}): TestRequest {
  const lines: string[] = [];
  return {
    contextDir,
    dockerfile: 'Dockerfile',
    buildArgs: {},
    repository: 'demo/app',
    tags: ['latest'],
    log: (line) => lines.push(line),
    signal: new AbortController().signal,
    mayPull: async () => true,
    lines,
    ...overrides,
  };
}

export interface PushedManifest {
  schemaVersion: number;
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
  annotations?: Record<string, string>;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function pushedImage(registry: Registry, repository: string, reference: string): Promise<{ manifest: PushedManifest; config: ImageConfig; digest: string }> {
  const stored = await registry.manifests.get(repository, reference);
  const manifest = JSON.parse(stored.bytes.toString('utf8')) as PushedManifest;
  await registry.blobs.stat(repository, manifest.config.digest);
  const config = JSON.parse((await readAll(await registry.blobs.read(manifest.config.digest))).toString('utf8')) as ImageConfig;
  return { manifest, config, digest: stored.digest };
}

export interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname?: string;
  content?: string;
}

/** The entries of a gzip (or plain) tar, in order, with small file contents as text. */
export async function tarEntries(data: Readable | Buffer, gzip = true): Promise<TarEntry[]> {
  const source = Buffer.isBuffer(data) ? Readable.from([data]) : data;
  const input = gzip ? source.pipe(createGunzip()) : source;
  const extractor = extract();
  const entries: TarEntry[] = [];
  const consuming = (async () => {
    for await (const entry of extractor) {
      const body = await readAll(entry);
      const { header } = entry;
      entries.push({
        name: header.name,
        type: header.type,
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        mtime: header.mtime.getTime() / 1000,
        size: header.size,
        ...(header.linkname ? { linkname: header.linkname } : {}),
        ...(header.type === 'file' && body.length <= 4096 ? { content: body.toString('utf8') } : {}),
      });
    }
  })();
  let bytes = 0;
  for await (const chunk of input) {
    bytes += (chunk as Buffer).length;
    if (!extractor.write(chunk as Buffer)) await new Promise<void>((resolve) => extractor.once('drain', () => resolve()));
  }
  // umoci's `insert` layers end without the last block's padding: complete it, as Go's reader does.
  if (bytes % 512 !== 0) extractor.write(Buffer.alloc(512 - (bytes % 512)));
  extractor.end(null);
  await consuming;
  return entries;
}

export async function layerEntries(registry: Registry, digest: string): Promise<TarEntry[]> {
  return tarEntries(await registry.blobs.read(digest));
}

export interface TarInput {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A tar archive (gzip-compressed when asked) of the given entries, in the order given. */
export async function makeTar(entries: TarInput[], gzip: boolean): Promise<Buffer> {
  const archive = pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    archive.entry(
      { name: entry.name, type, mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: entry.uid ?? 0, gid: entry.gid ?? 0, mtime: new Date(1_600_000_000_000), linkname: entry.linkname ?? '' },
      type === 'file' ? (entry.content ?? '') : '',
    );
  }
  archive.finalize();
  const tar = await readAll(archive);
  return gzip ? gzipSync(tar) : tar;
}
