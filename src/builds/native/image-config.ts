/**
 * The OCI image config and manifest the native builder writes, and the deterministic JSON they are
 * written in (object keys sorted at every level, no whitespace): the same build gives the same
 * bytes, so the same digests.
 */
import { digestOf } from '../../registry/digest.js';

export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/** What Linux images get as PATH when the base has none (as Docker does for `FROM scratch`). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Healthcheck {
  Test: string[];
  /** Nanoseconds, as Docker stores them. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime part of the config (OCI fields, plus Docker's Healthcheck, OnBuild and Shell). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: Healthcheck;
  OnBuild?: string[];
  Shell?: string[];
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  /** Fields of a base config this builder does not know are kept as they are. */
  [other: string]: unknown;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A layer as the manifest lists it, and its uncompressed digest for the config. */
export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** JSON with sorted object keys and no whitespace; `undefined` members are left out. */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(sortKeys(value)));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) out[key] = sortKeys(member);
  }
  return out;
}

/** An empty config for `FROM scratch`. */
export function scratchConfig(platform: Platform): ImageConfig {
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: [`PATH=${DEFAULT_PATH}`] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (platform.variant) config.variant = platform.variant;
  return config;
}

/** RFC 3339 in UTC without fractions, as Go writes `time.Time` for a whole second. */
export function timestamp(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function envMap(config: ContainerConfig): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq < 0) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

/** Sets one environment variable, replacing an existing one in place (Docker keeps the order). */
export function setEnv(config: ContainerConfig, key: string, value: string): void {
  const env = config.Env ?? [];
  const index = env.findIndex((entry) => entry === key || entry.startsWith(`${key}=`));
  if (index >= 0) env[index] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  config.Env = env;
}

export interface ManifestInput {
  config: { digest: string; size: number };
  layers: LayerDescriptor[];
  annotations?: Record<string, string>;
}

/** The OCI image manifest's bytes. */
export function manifestBytes({ config, layers, annotations }: ManifestInput): Buffer {
  return canonicalJson({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, digest: config.digest, size: config.size },
    layers: layers.map(({ mediaType, digest, size, annotations: layerAnnotations, urls }) => ({
      mediaType,
      digest,
      size,
      annotations: layerAnnotations,
      urls,
    })),
    annotations: annotations && Object.keys(annotations).length > 0 ? annotations : undefined,
  });
}

/** The config's bytes and digest. */
export function configBlob(config: ImageConfig): { bytes: Buffer; digest: string } {
  const bytes = canonicalJson(config);
  return { bytes, digest: digestOf(bytes) };
}
