/**
 * Image references as people write them: `alpine:3.20`, `library/alpine@sha256:...` (relative to
 * a proxy's upstream: `proxies[].sync`), and `ghcr.io/acme/app:1`, `http://127.0.0.1:5001/app:1`,
 * `alpine` (absolute: `berth mirror`'s source; no host means Docker Hub, as Docker reads it).
 */
import { parseDigest } from '../registry/digest.js';
import { isValidHostname, isValidName, isValidTag } from '../registry/names.js';

export interface RelativeReference {
  name: string;
  /** A tag or a digest. */
  reference: string;
}

export interface SourceReference extends RelativeReference {
  /** The registry's origin: `https://registry-1.docker.io` for Docker Hub. */
  origin: string;
}

const MAX_REFERENCE_LENGTH = 512;
/** Hosts that are Docker Hub's registry, whatever a config, a reference or containerd's `ns` calls it. */
export const DOCKER_HUB_HOSTS: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
export const DOCKER_HUB_ORIGIN = 'https://registry-1.docker.io';

/** `name[:tag][@digest]`; no tag or digest means `latest`; with both, the digest decides. */
export function parseRelativeReference(text: string): RelativeReference {
  if (text.length > MAX_REFERENCE_LENGTH) throw new Error('reference too long');
  let name = text;
  let reference = 'latest';
  const at = name.indexOf('@');
  if (at >= 0) {
    reference = name.slice(at + 1);
    parseDigest(reference);
    name = name.slice(0, at);
  }
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    const tag = name.slice(colon + 1);
    if (!isValidTag(tag)) throw new Error(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(text)}`);
    if (at < 0) reference = tag;
    name = name.slice(0, colon);
  }
  if (!isValidName(name)) throw new Error(`invalid image reference ${JSON.stringify(text)}: expected name[:tag] or name@digest`);
  return { name, reference };
}

/** An image anywhere: `[http(s)://]host[:port]/name[:tag|@digest]`, or a Docker Hub name without host. */
export function parseSourceReference(text: string): SourceReference {
  let rest = text;
  let scheme = 'https';
  const schemeMatch = /^(https?):\/\//.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1]!;
    rest = rest.slice(schemeMatch[0].length);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (schemeMatch && !hasHost) throw new Error(`${JSON.stringify(text)}: after ${scheme}:// comes a registry host, like ${scheme}://registry.example.com/app:1`);
  const host = hasHost ? first : 'docker.io';
  if (!isValidHostname(host)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(host)} is not a registry host`);
  const relative = parseRelativeReference(hasHost ? rest.slice(slash + 1) : rest);
  if (DOCKER_HUB_HOSTS.has(host)) {
    return { origin: DOCKER_HUB_ORIGIN, name: relative.name.includes('/') ? relative.name : `library/${relative.name}`, reference: relative.reference };
  }
  return { origin: `${scheme}://${host}`, ...relative };
}
