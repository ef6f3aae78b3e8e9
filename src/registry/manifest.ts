/**
 * Manifests as the OCI image spec and Docker's schema2 define them: parsing and validation.
 * Nothing here touches storage; `manifests.ts` stores what this accepts, byte for byte.
 */
import { parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
];

const INDEX_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
const SCHEMA1_TYPES: readonly string[] = [MediaType.DockerSchema1, MediaType.DockerSchema1Signed, 'application/json'];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface Manifest {
  mediaType: string;
  /** Blobs the manifest needs in the repository (config and distributable layers). */
  blobs: Descriptor[];
  /** Manifests an index needs in the repository. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** What the referrers API reports: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `manifest invalid: ${message}`, { detail });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** Layers a registry need not hold: non-distributable (foreign) layers, fetched from their URLs. */
export function isNonDistributable(descriptor: Descriptor): boolean {
  return (
    descriptor.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    descriptor.mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
  );
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} is not a descriptor object`);
  const { mediaType, digest, size, artifactType, annotations, urls } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  try {
    parseDigest(digest);
  } catch {
    throw invalid(`${where}.digest is not a valid sha256 or sha512 digest`, { digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`);
  if (annotations !== undefined && !isStringMap(annotations)) throw invalid(`${where}.annotations must map strings to strings`);
  if (urls !== undefined && !(Array.isArray(urls) && urls.every((u) => typeof u === 'string'))) {
    throw invalid(`${where}.urls must be a list of strings`);
  }
  return value as unknown as Descriptor;
}

function descriptors(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be a list of descriptors`);
  return value.map((item, i) => descriptor(item, `${where}[${i}]`));
}

/** The media type a stored manifest is served with, read from its bytes. */
export function mediaTypeOf(body: Record<string, unknown>): string {
  if (typeof body.mediaType === 'string') return body.mediaType;
  return Array.isArray(body.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

/**
 * Parses and validates a pushed manifest. `contentType` is the request's Content-Type; when the
 * manifest names its own `mediaType` the two must agree.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): Manifest {
  const declared = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    if (declared && SCHEMA1_TYPES.includes(declared) && declared !== 'application/json') throw schema1();
    throw invalid('not valid JSON');
  }
  if (!isObject(body)) throw invalid('not a JSON object');
  if (body.schemaVersion === 1 || (declared && SCHEMA1_TYPES.slice(0, 2).includes(declared))) throw schema1();
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  if (body.mediaType !== undefined && typeof body.mediaType !== 'string') throw invalid('mediaType must be a string');

  const known = declared && MANIFEST_MEDIA_TYPES.includes(declared) ? declared : undefined;
  const mediaType = typeof body.mediaType === 'string' ? body.mediaType : (known ?? mediaTypeOf(body));
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw invalid(`unsupported media type ${mediaType}`, { mediaType });
  if (known && known !== mediaType) {
    throw invalid(`Content-Type ${known} does not match the manifest's mediaType ${mediaType}`, { contentType: known, mediaType });
  }
  if (typeof body.mediaType !== 'string' && mediaType !== mediaTypeOf(body)) {
    // A body without mediaType is served by its shape: refuse one whose shape says otherwise.
    throw invalid(`a ${mediaType} manifest must state its mediaType`);
  }
  if (body.artifactType !== undefined && typeof body.artifactType !== 'string') throw invalid('artifactType must be a string');
  if (body.annotations !== undefined && !isStringMap(body.annotations)) throw invalid('annotations must map strings to strings');

  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject');
  const annotations = body.annotations as Record<string, string> | undefined;

  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = descriptors(body.manifests, 'manifests');
    return { mediaType, blobs: [], manifests, subject, artifactType: body.artifactType as string | undefined, annotations };
  }

  const config = descriptor(body.config, 'config');
  const layers = descriptors(body.layers, 'layers');
  if (mediaType === MediaType.DockerManifest && layers.length === 0) throw invalid('a Docker image manifest needs at least one layer');
  const artifactType = (body.artifactType as string | undefined) ?? config.mediaType;
  return {
    mediaType,
    blobs: [config, ...layers.filter((layer) => !isNonDistributable(layer))],
    manifests: [],
    subject,
    artifactType,
    annotations,
  };
}

function schema1(): RegistryError {
  return invalid('Docker schema1 manifests are not supported: push with a current client (schema2 or OCI)');
}

/** What the registry needs to serve a stored manifest and list it as a referrer. */
export interface ManifestSummary {
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: string;
}

/** Summarizes stored (already validated) manifest bytes. */
export function summarizeManifest(bytes: Buffer): ManifestSummary {
  const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const config = isObject(body.config) ? body.config : undefined;
  const subject = isObject(body.subject) && typeof body.subject.digest === 'string' ? body.subject.digest : undefined;
  const artifactType =
    typeof body.artifactType === 'string' ? body.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined;
  return {
    mediaType: mediaTypeOf(body),
    size: bytes.length,
    artifactType,
    annotations: isStringMap(body.annotations) ? body.annotations : undefined,
    subject,
  };
}
