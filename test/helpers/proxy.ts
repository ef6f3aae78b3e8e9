/**
 * Pull-through cache tests: images pushed to an upstream registry with random bytes, and a Berth
 * whose `proxies` point at it (filesystem storage in a temp folder).
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import type { ProxyConfig } from '../../src/proxy/config.js';
import { Client, imageManifest, sha256 } from './http.js';
import { filesystemConfig, startTestServer, type TestServer } from './server.js';

export interface PushedImage {
  name: string;
  tag: string;
  digest: string;
  manifest: Buffer;
  config: Buffer;
  layers: Buffer[];
}

/** Pushes a config and layers of the given sizes (random bytes) and a manifest tagged `tag`. */
export async function pushRandomImage(client: Client, name: string, tag: string, layerSizes: number[] = [4096], extra: Record<string, unknown> = {}): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(8).toString('hex') }));
  const layers = layerSizes.map((size) => randomBytes(size));
  for (const blob of [config, ...layers]) await client.pushBlob(name, blob);
  const manifest = Buffer.from(JSON.stringify(imageManifest([sha256(config), config.length], layers.map((l) => [sha256(l), l.length]), extra)));
  const res = await client.request('PUT', `/v2/${name}/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${res.body.toString()}`);
  return { name, tag, digest: sha256(manifest), manifest, config, layers };
}

/** A complete proxies[] entry with the defaults the config schema gives. */
export function proxyEntry(entry: Partial<ProxyConfig> & Pick<ProxyConfig, 'prefix' | 'url'>): ProxyConfig {
  return {
    username: '',
    password: '',
    passwordFile: '',
    tagTtl: '5m',
    evictAfter: '',
    library: false,
    timeout: '30s',
    sync: [],
    syncEvery: '1h',
    syncPlatforms: [],
    ...entry,
  };
}

export interface ProxyServer {
  server: TestServer;
  client: Client;
  root: string;
  cleanup(): Promise<void>;
}

/** A Berth with these proxies (and whatever else `overrides` sets), on filesystem storage. */
export async function startProxyServer(proxies: ProxyConfig[], overrides: (config: Config) => void = () => {}): Promise<ProxyServer> {
  const made = await filesystemConfig((config) => {
    config.proxies = proxies;
    overrides(config);
  });
  const server = await startTestServer(made.config);
  return {
    server,
    client: new Client(server.url),
    root: made.config.storage.filesystem.root,
    async cleanup() {
      await server.close();
      await made.cleanup();
    },
  };
}

/** Whether storage under `root` holds the bytes of `digest`. */
export async function blobStored(root: string, digest: string): Promise<boolean> {
  const hex = digest.slice('sha256:'.length);
  return stat(join(root, 'blobs/sha256', hex.slice(0, 2), hex, 'data')).then(
    () => true,
    () => false,
  );
}

/** Whether `repository` links `digest` as a layer. */
export async function layerLinked(root: string, repository: string, digest: string): Promise<boolean> {
  return stat(join(root, 'repositories', repository, '_layers/sha256', digest.slice('sha256:'.length), 'link')).then(
    () => true,
    () => false,
  );
}
