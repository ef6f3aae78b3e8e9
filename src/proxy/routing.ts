/**
 * Which proxy a repository name belongs to, and what the name is in Berth and at the upstream.
 *
 *   hub/alpine          (prefix hub, Docker Hub)  -> Berth hub/library/alpine, upstream library/alpine
 *   hub/library/alpine                            -> the same repository
 *   ghcr/acme/app       (prefix ghcr)             -> Berth ghcr/acme/app, upstream acme/app
 *   library/alpine?ns=docker.io (mirrors.namespaces, the proxy whose upstream is Docker Hub,
 *                                prefix hub)      -> Berth hub/library/alpine, upstream library/alpine
 *   alpine              (prefix "", Docker Hub)   -> Berth library/alpine, upstream library/alpine
 *
 * Berth stores and authorizes the name the upstream means, under the prefix: one repository per
 * upstream repository, however a client spells it (auth rules see `hub/library/alpine`).
 */
import { RegistryError } from '../registry/errors.js';
import type { ProxyCache, ProxyTarget } from './cache.js';
import { DOCKER_HUB_HOSTS } from './reference.js';

export interface Routed extends ProxyTarget {
  cache: ProxyCache;
}

function hostOf(url: string): string {
  const host = new URL(url).host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

export class ProxyRouter {
  /** Longest prefix first. */
  private readonly prefixed: ProxyCache[];
  private readonly root: ProxyCache | undefined;
  private readonly byHost = new Map<string, ProxyCache>();

  constructor(caches: ProxyCache[]) {
    this.prefixed = caches.filter((c) => c.settings.prefix !== '').sort((a, b) => b.settings.prefix.length - a.settings.prefix.length);
    this.root = caches.find((c) => c.settings.prefix === '');
    // With two proxies of one upstream, `ns` picks the first configured.
    for (const cache of caches) {
      const host = hostOf(cache.settings.url);
      if (!this.byHost.has(host)) this.byHost.set(host, cache);
    }
  }

  /** The proxy (with prefix) whose namespace `name` is in, or the one without prefix, or none. */
  route(name: string): Routed | undefined {
    for (const cache of this.prefixed) {
      const prefix = cache.settings.prefix;
      if (name.startsWith(`${prefix}/`)) return this.target(cache, name.slice(prefix.length + 1));
    }
    // A name that is a prefix itself (`hub`) is nobody's cache.
    if (this.root && !this.prefixed.some((c) => c.settings.prefix === name)) return this.target(this.root, name);
    return undefined;
  }

  /** containerd's `?ns=<host>`: the proxy whose upstream is that host; NAME_UNKNOWN when none is. */
  routeNamespace(name: string, namespace: string): Routed {
    const host = namespace.toLowerCase();
    const cache = this.byHost.get(DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host);
    if (!cache) {
      throw new RegistryError('NAME_UNKNOWN', `no proxy here pulls from ${namespace} (mirrors.namespaces)`, { detail: { ns: namespace.slice(0, 256) } });
    }
    return this.target(cache, name);
  }

  private target(cache: ProxyCache, rest: string): Routed {
    return { cache, ...cache.target(rest) };
  }
}
