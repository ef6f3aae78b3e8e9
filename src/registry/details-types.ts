/**
 * The JSON shape of `/api/repositories/<name>/manifests/<reference>` (details.ts builds it). No
 * imports: the web console reads the same types.
 */
export interface LayerDetails {
  digest: string;
  mediaType: string;
  /** Stored bytes (the descriptor's claim when the blob is not stored: a foreign layer). */
  size: number;
  /** When the layer is not stored here (its URLs point elsewhere). */
  foreign?: boolean;
}

export interface PlatformImage {
  digest: string;
  mediaType: string;
  /** `os/arch[/variant]`, when the index says (or the child's config does). */
  platform?: string;
  artifactType?: string;
  /** Bytes a pull of this child fetches. */
  size: number;
}

export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  author?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  exposedPorts?: string[];
  volumes?: string[];
  labels?: Record<string, string>;
  user?: string;
  workingDir?: string;
  stopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  createdBy?: string;
  comment?: string;
  emptyLayer?: boolean;
}

export interface Referrer {
  digest: string;
  mediaType: string;
  artifactType?: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ManifestDetails {
  name: string;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index' | 'other';
  /** Bytes a pull fetches (manifest, config, layers; an index's children and theirs). */
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The manifest this one refers to (it is itself a referrer). */
  subject?: string;
  /** Images: the config blob and its parsed content when it is an image config. */
  configDigest?: string;
  configMediaType?: string;
  config?: ImageConfig;
  layers?: LayerDetails[];
  history?: HistoryEntry[];
  /** Indexes: the images (and artifacts) they hold. */
  manifests?: PlatformImage[];
  referrers: Referrer[];
  /** Entries left out of `layers`, `history`, `manifests` or `referrers` past MAX_ITEMS. */
  truncated?: { layers?: number; history?: number; manifests?: number; referrers?: number };
}
