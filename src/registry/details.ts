/**
 * One manifest as people look at it (the console's image page, `/api/repositories/<name>/manifests/
 * <reference>`): for an image, its layers with their stored sizes, the runtime config (entrypoint,
 * cmd, env, ports, labels, user, working dir), its history; for an index, each child with its
 * platform and pull size; for both, the referrers (signatures, SBOMs, attestations).
 *
 * Everything comes from stored bytes the caller may already pull; nothing is trusted beyond its
 * shape: fields of the wrong type are left out, the config is read only up to MAX_CONFIG bytes, and
 * lists are cut at MAX_ITEMS (with the count kept), so a crafted manifest cannot make the answer
 * large.
 */
import type { StorageDriver } from '../../storage-drivers/driver.js';
import type { HistoryEntry, ImageConfig, LayerDetails, ManifestDetails, PlatformImage, Referrer } from './details-types.js';
import type { Inventory } from './inventory.js';
import * as layout from './layout.js';
import { MediaType } from './manifest.js';
import type { ManifestStore } from './manifests.js';

export const MAX_CONFIG = 1024 * 1024;
export const MAX_ITEMS = 500;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function keys(value: unknown): string[] | undefined {
  return isObject(value) && Object.keys(value).length > 0 ? Object.keys(value) : undefined;
}

function platformOf(value: unknown): string | undefined {
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') return undefined;
  return [value.os, value.architecture, ...(typeof value.variant === 'string' ? [value.variant] : [])].join('/');
}

/** Drops undefined fields (the JSON answer lists only what is known). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function cut<T>(list: T[], key: keyof NonNullable<ManifestDetails['truncated']>, truncated: NonNullable<ManifestDetails['truncated']>): T[] {
  if (list.length <= MAX_ITEMS) return list;
  truncated[key] = list.length - MAX_ITEMS;
  return list.slice(0, MAX_ITEMS);
}

export function imageConfigOf(body: Json): { config: ImageConfig; history: HistoryEntry[] } {
  const run = isObject(body.config) ? body.config : {};
  const config: ImageConfig = defined({
    os: str(body.os),
    architecture: str(body.architecture),
    variant: str(body.variant),
    created: str(body.created),
    author: str(body.author),
    entrypoint: strings(run.Entrypoint),
    cmd: strings(run.Cmd),
    env: strings(run.Env),
    exposedPorts: keys(run.ExposedPorts),
    volumes: keys(run.Volumes),
    labels: stringMap(run.Labels),
    user: str(run.User) || undefined,
    workingDir: str(run.WorkingDir) || undefined,
    stopSignal: str(run.StopSignal),
  });
  const history = (Array.isArray(body.history) ? body.history.filter(isObject) : []).map((h) =>
    defined({ created: str(h.created), createdBy: str(h.created_by), comment: str(h.comment), emptyLayer: h.empty_layer === true ? true : undefined }),
  );
  return { config, history };
}

export class ManifestDetailsReader {
  constructor(
    private readonly driver: StorageDriver,
    private readonly manifests: ManifestStore,
    private readonly inventory: Inventory,
  ) {}

  /** The manifest `reference` (a tag or digest) names in `name`; MANIFEST_UNKNOWN when none. */
  async read(name: string, reference: string): Promise<ManifestDetails> {
    const stored = await this.manifests.get(name, reference);
    const body = JSON.parse(stored.bytes.toString('utf8')) as Json;
    const truncated: NonNullable<ManifestDetails['truncated']> = {};
    const details: ManifestDetails = {
      name,
      digest: stored.digest,
      mediaType: stored.mediaType,
      kind: Array.isArray(body.manifests) ? 'index' : isObject(body.config) ? 'image' : 'other',
      size: await this.inventory.pullSize(stored.digest),
      referrers: [],
      ...defined({ artifactType: str(body.artifactType), annotations: stringMap(body.annotations), subject: isObject(body.subject) ? str(body.subject.digest) : undefined }),
    };
    if (details.kind === 'image') await this.describeImage(details, body, truncated);
    if (details.kind === 'index') {
      const children = cut((body.manifests as unknown[]).filter(isObject), 'manifests', truncated);
      details.manifests = await Promise.all(children.map((child) => this.describeChild(name, child)));
    }
    const referrers = await this.manifests.referrers(name, stored.digest);
    details.referrers = cut(
      referrers.map((r) => defined({ digest: r.digest, mediaType: r.mediaType, artifactType: r.artifactType, size: r.size, annotations: r.annotations })),
      'referrers',
      truncated,
    );
    if (Object.keys(truncated).length > 0) details.truncated = truncated;
    return details;
  }

  private async describeImage(details: ManifestDetails, body: Json, truncated: NonNullable<ManifestDetails['truncated']>): Promise<void> {
    const config = body.config as Json;
    details.configDigest = str(config.digest);
    details.configMediaType = str(config.mediaType);
    const layers = cut((Array.isArray(body.layers) ? body.layers : []).filter(isObject), 'layers', truncated);
    details.layers = await Promise.all(
      layers.map(async (layer) => {
        const digest = str(layer.digest) ?? '';
        const stored = digest ? await this.inventory.blobSize(digest) : undefined;
        const claimed = typeof layer.size === 'number' ? layer.size : 0;
        return { digest, mediaType: str(layer.mediaType) ?? '', size: stored ?? claimed, ...(stored === undefined ? { foreign: true } : {}) };
      }),
    );
    const parsed = details.configDigest ? await this.readConfig(details.configDigest) : undefined;
    if (parsed) {
      const { config: image, history } = imageConfigOf(parsed);
      details.config = image;
      details.history = cut(history, 'history', truncated);
    }
  }

  private async describeChild(name: string, child: Json): Promise<PlatformImage> {
    const digest = str(child.digest) ?? '';
    let platform = platformOf(child.platform);
    if (!platform && digest) {
      // No platform in the index: the child's own config may say (a Docker manifest list always does).
      try {
        const stored = await this.manifests.get(name, digest);
        const body = JSON.parse(stored.bytes.toString('utf8')) as Json;
        const configDigest = isObject(body.config) ? str(body.config.digest) : undefined;
        const config = configDigest ? await this.readConfig(configDigest) : undefined;
        platform = config ? platformOf(config) : undefined;
      } catch {
        platform = undefined; // not stored here, or not JSON: no platform to show
      }
    }
    return defined({
      digest,
      mediaType: str(child.mediaType) ?? MediaType.OciManifest,
      platform,
      artifactType: str(child.artifactType),
      size: digest ? await this.inventory.pullSize(digest) : 0,
    });
  }

  /** An image config blob, parsed, when it is small JSON; undefined otherwise (an artifact's config). */
  private async readConfig(digest: string): Promise<Json | undefined> {
    const size = await this.inventory.blobSize(digest);
    if (size === undefined || size > MAX_CONFIG) return undefined;
    try {
      const parsed: unknown = JSON.parse((await this.driver.getContent(layout.blobData(digest))).toString('utf8'));
      return isObject(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
}
