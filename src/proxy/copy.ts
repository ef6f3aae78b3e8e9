/**
 * Copies an image or an index from a registry (the upstream client) into a Berth repository, as
 * pushes through the registry layer would: blobs first (streamed, verified while stored), then
 * manifests with their references checked, children before their index, referrers (with
 * `referrers`) after what they refer to. Without `allPlatforms` an index becomes the one image
 * of `platform` (as `skopeo copy` without --all does). What the repository already holds is not
 * fetched again.
 */
import type { ChangeOrigin } from '../registry/observer.js';
import { type Manifest, parseManifest } from '../registry/manifest.js';
import type { Registry } from '../registry/registry.js';
import { matchesPlatform, type Platform, platformString } from './platform.js';
import type { UpstreamClient } from './upstream.js';

export interface CopyOptions {
  allPlatforms: boolean;
  /** Which image of an index to copy without `allPlatforms`. */
  platform: Platform;
  referrers: boolean;
  maxManifestSize: number;
  origin: ChangeOrigin;
  /** Told of each thing copied, for a progress line. */
  progress?: (line: string) => void;
}

export interface CopyReport {
  /** What DEST's tag now names. */
  digest: string;
  mediaType: string;
  manifests: number;
  blobs: number;
  /** Blob bytes downloaded. */
  bytes: number;
}

export class CopyError extends Error {}

export async function copyImage(
  client: UpstreamClient,
  source: { name: string; reference: string },
  registry: Registry,
  dest: { name: string; tag?: string },
  options: CopyOptions,
): Promise<CopyReport> {
  const report: CopyReport = { digest: '', mediaType: '', manifests: 0, blobs: 0, bytes: 0 };
  const copied = new Set<string>();
  const say = options.progress ?? (() => {});

  const fetchManifest = async (reference: string): Promise<{ digest: string; bytes: Buffer; mediaType: string; parsed: Manifest }> => {
    const got = await client.manifest(source.name, reference, 'GET', options.maxManifestSize);
    return { digest: got.digest, bytes: got.bytes!, mediaType: got.mediaType, parsed: parseManifest(got.bytes!, got.mediaType || undefined) };
  };

  const copyBlob = async (digest: string): Promise<void> => {
    if (await registry.blobs.has(dest.name, digest)) return;
    // Stored for another repository: linked, not downloaded again (the operator can read it all).
    if ((await registry.blobs.storedSize(digest)) !== undefined) {
      await registry.mountFromAny(dest.name, digest);
      return;
    }
    const blob = await client.blob(source.name, digest, 'GET');
    const stored = await registry.uploads.putWhole(dest.name, digest, blob.body!);
    report.blobs += 1;
    report.bytes += stored.size;
    say(`blob ${digest} (${stored.size} bytes)`);
  };

  /** Copies a manifest (and what it needs) and stores it under `tag`, or by digest alone. */
  const copyManifest = async (manifest: Awaited<ReturnType<typeof fetchManifest>>, tag?: string): Promise<void> => {
    for (const child of manifest.parsed.manifests) {
      if (copied.has(child.digest) || (await registry.manifests.digestOf(dest.name, child.digest))) continue;
      await copyManifest(await fetchManifest(child.digest));
    }
    for (const blob of manifest.parsed.blobs) await copyBlob(blob.digest);
    await registry.manifests.put(dest.name, tag ?? manifest.digest, manifest.bytes, manifest.mediaType || undefined, [], options.origin);
    copied.add(manifest.digest);
    report.manifests += 1;
    say(`manifest ${manifest.digest} (${manifest.parsed.mediaType})`);
  };

  let top = await fetchManifest(source.reference);
  if (top.parsed.manifests.length > 0 && !options.allPlatforms) {
    const wanted = top.parsed.manifests.find((child) => matchesPlatform(child.platform, options.platform));
    if (!wanted) {
      const offered = top.parsed.manifests.map((child) => describePlatform(child.platform)).join(', ');
      throw new CopyError(`${source.name}:${source.reference} is an index without ${platformString(options.platform)} (it has ${offered}): choose one with --platform, or copy all with --all-platforms`);
    }
    top = await fetchManifest(wanted.digest);
  }
  await copyManifest(top, dest.tag);
  report.digest = top.digest;
  report.mediaType = top.parsed.mediaType;

  if (options.referrers) {
    for (const subject of [...copied]) {
      const found = await client.referrers(source.name, subject);
      for (const descriptor of found?.index.manifests ?? []) {
        const digest = (descriptor as { digest?: unknown }).digest;
        if (typeof digest !== 'string' || copied.has(digest) || (await registry.manifests.digestOf(dest.name, digest))) continue;
        await copyManifest(await fetchManifest(digest));
      }
    }
  }
  return report;
}

function describePlatform(platform: unknown): string {
  if (typeof platform !== 'object' || platform === null) return 'no platform';
  const { os, architecture, variant } = platform as Record<string, unknown>;
  return [os, architecture, variant].filter((part) => typeof part === 'string').join('/');
}
