/**
 * Every storage path Berth uses, built in this one module. Driver paths start with `/`.
 *
 *   /blobs/<alg>/<first two hex>/<hex>/data                      the bytes, written once
 *   /repositories/<name>/
 *     _layers/<alg>/<hex>/link                                   blob is part of this repo
 *     _manifests/revisions/<alg>/<hex>/link                      manifest is part of this repo
 *     _manifests/tags/<tag>/current/link                         tag -> manifest digest
 *     _referrers/<alg>/<subject hex>/<alg>/<hex>/link            subject -> referrer
 *     _uploads/<uuid>/data, startedat                            upload in progress
 *   /_berth/...                                                  Berth's own state: auth (src/auth/keys.ts,
 *                                                                robots.ts), builds (src/builds/queue/paths.ts),
 *                                                                events (src/events/paths.ts)
 *
 * A link file holds the digest it stands for. Repository names cannot have a part starting with
 * `_` (the name grammar forbids it), so `_layers` and the rest never collide with a nested name.
 */
import { parseDigest } from './digest.js';

export const REPOSITORIES = '/repositories';
export const BERTH_STATE = '/_berth';

export function blobData(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `/blobs/${algorithm}/${hex.slice(0, 2)}/${hex}/data`;
}

export function repository(name: string): string {
  return `${REPOSITORIES}/${name}`;
}

export function layerLink(name: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${repository(name)}/_layers/${algorithm}/${hex}/link`;
}

export function manifestRevisionLink(name: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${repository(name)}/_manifests/revisions/${algorithm}/${hex}/link`;
}

export function tags(name: string): string {
  return `${repository(name)}/_manifests/tags`;
}

export function tag(name: string, tagName: string): string {
  return `${tags(name)}/${tagName}`;
}

export function tagCurrentLink(name: string, tagName: string): string {
  return `${tag(name, tagName)}/current/link`;
}

/** The folder holding one subdirectory per referrer algorithm of `subject`. */
export function referrers(name: string, subject: string): string {
  const { algorithm, hex } = parseDigest(subject);
  return `${repository(name)}/_referrers/${algorithm}/${hex}`;
}

export function referrerLink(name: string, subject: string, referrer: string): string {
  const { algorithm, hex } = parseDigest(referrer);
  return `${referrers(name, subject)}/${algorithm}/${hex}/link`;
}

export function upload(name: string, uuid: string): string {
  return `${repository(name)}/_uploads/${uuid}`;
}

export function uploadData(name: string, uuid: string): string {
  return `${upload(name, uuid)}/data`;
}

export function uploadStartedAt(name: string, uuid: string): string {
  return `${upload(name, uuid)}/startedat`;
}

/** Path parts under a repository folder that are its own data, not nested repositories. */
export function isRepositoryDataFolder(part: string): boolean {
  return part.startsWith('_');
}
