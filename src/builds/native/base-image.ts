/**
 * `FROM` (and `COPY --from=<image>`) for the native builder: an image stored in this Berth, found
 * by `name:tag`, `name@digest`, or a reference with a registry host in front
 * (`host:5000/team/app:1`, `docker.io/library/alpine`), whose host part is dropped: such a
 * reference is accepted only when the rest names an image stored here. Nothing is ever pulled from
 * another registry.
 *
 * The one place the native builder reads an image, so the one place its rights are checked: every
 * repository the reference could name is asked about (`mayPull`) before anything is read from it,
 * and a reference that does not parse is refused.
 */
import { RegistryError } from '../../registry/errors.js';
import { MediaType } from '../../registry/manifest.js';
import { isValidName } from '../../registry/names.js';
import type { Registry } from '../../registry/registry.js';
import type { ImageConfig, LayerDescriptor, Platform } from './image-config.js';

export interface BaseImage {
  /** The repository it was found in (its blobs are linked there). */
  repository: string;
  /** The manifest's digest (of the platform's manifest when the reference named an index). */
  digest: string;
  config: ImageConfig;
  layers: LayerDescriptor[];
}

export interface ImageReference {
  /** Repository names to try, in order. */
  names: string[];
  /** A tag or a digest. */
  reference: string;
}

export class BaseImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaseImageError';
  }
}

const MAX_CONFIG_SIZE = 16 * 1024 * 1024;

/** Docker's layer media types and their OCI names (the bytes are the same). */
const OCI_LAYER_TYPES: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** Splits an image reference into the repository names to try here and the tag or digest. */
export function parseImageReference(text: string): ImageReference {
  let rest = text.trim();
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    // With both a tag and a digest, the digest decides (as Docker does).
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  const parts = rest.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasHost ? parts.slice(1).join('/') : rest;
  if (!isValidName(path) || reference === '') throw new BaseImageError(`invalid image reference "${text}"`);
  // Docker Hub's short names are `library/<name>`: a mirror in Berth may hold either spelling.
  const names = path.includes('/') ? [path] : [path, `library/${path}`];
  return { names, reference };
}

export function platformString(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

function matchesPlatform(candidate: Partial<Platform> | undefined, wanted: Platform): boolean {
  if (!candidate || candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  return !wanted.variant || !candidate.variant || candidate.variant === wanted.variant;
}

function notFound(error: unknown): boolean {
  return error instanceof RegistryError && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN' || error.code === 'NAME_INVALID');
}

interface ManifestBody {
  mediaType?: string;
  config?: { digest: string; size: number; mediaType: string };
  layers?: { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; urls?: string[] }[];
  manifests?: { digest: string; mediaType: string; platform?: Partial<Platform> }[];
}

/**
 * Finds `text` in Berth and reads its config; for an index, the manifest for `platform`. Only
 * repositories `mayPull` allows are looked at; when it allows none, the build may not use the image.
 */
export async function resolveBaseImage(registry: Registry, text: string, platform: Platform, mayPull: (repository: string) => Promise<boolean>): Promise<BaseImage> {
  const { names, reference } = parseImageReference(text);
  const allowed: string[] = [];
  for (const name of names) if (await mayPull(name)) allowed.push(name);
  if (allowed.length === 0) throw new BaseImageError(`"${text}": this build may not pull ${names[0]} (builds.repositories[].pull, and the rights of whoever started it)`);
  for (const repository of allowed) {
    let stored;
    try {
      stored = await registry.manifests.get(repository, reference);
    } catch (err) {
      if (notFound(err)) continue;
      throw err;
    }
    let digest = stored.digest;
    let body = JSON.parse(stored.bytes.toString('utf8')) as ManifestBody;
    if (body.manifests) {
      const choice = body.manifests.find((m) => matchesPlatform(m.platform, platform));
      if (!choice) {
        const offered = body.manifests.map((m) => (m.platform?.os ? platformString(m.platform as Platform) : 'unknown')).join(', ');
        throw new BaseImageError(`base image "${text}" has no ${platformString(platform)} image (it has: ${offered || 'none'})`);
      }
      const child = await registry.manifests.get(repository, choice.digest);
      digest = child.digest;
      body = JSON.parse(child.bytes.toString('utf8')) as ManifestBody;
    }
    return { repository, digest, ...(await readImage(registry, repository, text, body)) };
  }
  throw new BaseImageError(
    `base image "${text}" is not in this registry: the native builder builds FROM images stored in Berth (push it here first) or FROM scratch`,
  );
}

async function readImage(registry: Registry, repository: string, text: string, body: ManifestBody): Promise<Omit<BaseImage, 'repository' | 'digest'>> {
  const type = body.mediaType ?? MediaType.OciManifest;
  if ((type !== MediaType.OciManifest && type !== MediaType.DockerManifest) || !body.config || !body.layers) {
    throw new BaseImageError(`base image "${text}" is not a container image (${type})`);
  }
  const info = await registry.blobs.stat(repository, body.config.digest);
  if (info.size > MAX_CONFIG_SIZE) throw new BaseImageError(`base image "${text}" has a config larger than ${MAX_CONFIG_SIZE} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of await registry.blobs.read(body.config.digest)) chunks.push(chunk as Buffer);
  const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ImageConfig;
  config.config ??= {};
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== body.layers.length) {
    throw new BaseImageError(`base image "${text}" lists ${body.layers.length} layers but its config has ${diffIds.length} diff_ids`);
  }
  const layers = body.layers.map((layer, i): LayerDescriptor => {
    const descriptor: LayerDescriptor = {
      mediaType: OCI_LAYER_TYPES[layer.mediaType] ?? layer.mediaType,
      digest: layer.digest,
      size: layer.size,
      diffId: diffIds[i]!,
    };
    if (layer.annotations) descriptor.annotations = layer.annotations;
    if (layer.urls) descriptor.urls = layer.urls;
    return descriptor;
  });
  return { config, layers };
}
