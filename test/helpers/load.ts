/**
 * Pushing and pulling images the way registry clients do, for load and GC-under-load tests:
 * HEAD each blob and skip the upload when it is there (so a push may reuse a blob garbage
 * collection is about to delete), upload the rest in one of the ways clients do, then the
 * manifest; and pulling an image back with every digest verified.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { checkStorage } from '../../src/registry/fsck.js';
import { listRepositories } from '../../src/registry/catalog.js';
import * as layout from '../../src/registry/layout.js';
import { digestsUnder, lastPart, listOrEmpty } from '../../src/registry/listing.js';
import { Client, imageManifest, type Reply, type RequestOptions, sha256, withQuery } from './http.js';
import { rawRequest } from './hostile-http.js';

export interface PushedImage {
  name: string;
  tag: string;
  manifest: string;
  /** Config and layers. */
  blobs: string[];
}

/** A whole upload in one of three ways: POST ?digest=, POST + PATCH + PUT, POST + PUT with the body. */
async function uploadBlob(client: Client, name: string, data: Buffer, way: number): Promise<void> {
  const digest = sha256(data);
  let status: number;
  if (way % 3 === 0) {
    status = (await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data })).status;
  } else {
    const location = await client.startUpload(name);
    if (way % 3 === 1) {
      const patch = await client.request('PATCH', location, { body: data, headers: { 'Content-Range': `0-${data.length - 1}` } });
      if (patch.status !== 202) throw new Error(`PATCH ${name}: ${patch.status} ${patch.body.toString()}`);
      status = (await client.request('PUT', withQuery(patch.headers.get('location')!, `digest=${digest}`))).status;
    } else {
      status = (await client.request('PUT', withQuery(location, `digest=${digest}`), { body: data })).status;
    }
  }
  if (status !== 201) throw new Error(`upload ${name}@${digest}: ${status}`);
}

export interface PushResult {
  image?: PushedImage;
  /** Tries the manifest PUT needed (a MANIFEST_BLOB_UNKNOWN answer makes a client push again). */
  attempts: number;
  /** Blobs skipped because their HEAD found them. */
  skipped: number;
}

/** Pushes an image as a client does; retries the whole push when a blob vanished meanwhile. */
export async function pushImage(client: Client, name: string, tag: string, layers: Buffer[], maxAttempts = 4): Promise<PushResult> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, salt: randomBytes(6).toString('hex') }));
  const blobs = [config, ...layers];
  let skipped = 0;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    for (const [i, data] of blobs.entries()) {
      const head = await client.head(`/v2/${name}/blobs/${sha256(data)}`);
      if (head.status === 200) {
        skipped += 1;
        continue;
      }
      await uploadBlob(client, name, data, i + attempt);
    }
    const body = imageManifest([sha256(config), config.length], layers.map((l) => [sha256(l), l.length]));
    const bytes = Buffer.from(JSON.stringify(body));
    const put = await client.request('PUT', `/v2/${name}/manifests/${tag}`, { body: bytes, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    if (put.status === 201) return { image: { name, tag, manifest: sha256(bytes), blobs: blobs.map((b) => sha256(b)) }, attempts: attempt, skipped };
    if (put.status !== 400 || put.json?.errors?.[0]?.code !== 'MANIFEST_BLOB_UNKNOWN') throw new Error(`PUT manifest ${name}:${tag}: ${put.status} ${put.body.toString()}`);
  }
  return { attempts: maxAttempts, skipped };
}

/** Pulls an image by tag and checks the manifest's digest and every blob's bytes against its digest. */
export async function verifyImage(client: Client, image: PushedImage): Promise<string | undefined> {
  const manifest = await client.get(`/v2/${image.name}/manifests/${image.tag}`, { Accept: 'application/vnd.oci.image.manifest.v1+json' });
  if (manifest.status !== 200) return `${image.name}:${image.tag}: manifest ${manifest.status}`;
  if (sha256(manifest.body) !== image.manifest) return `${image.name}:${image.tag}: manifest digest ${sha256(manifest.body)}, pushed ${image.manifest}`;
  for (const blob of image.blobs) {
    const got = await client.get(`/v2/${image.name}/blobs/${blob}`);
    if (got.status !== 200) return `${image.name}@${blob}: ${got.status}`;
    if (sha256(got.body) !== blob) return `${image.name}@${blob}: bytes hash to ${sha256(got.body)}`;
  }
  return undefined;
}

/**
 * What garbage collection left that no manifest needs: blob bytes no revision of any repository
 * references, layer links their repository's manifests do not reference, and uploads.
 */
export async function unreferenced(driver: StorageDriver): Promise<string[]> {
  const referencedAnywhere = new Set<string>();
  const left: string[] = [];
  for (const name of await listRepositories(driver)) {
    const referenced = new Set<string>();
    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_manifests/revisions`)) {
      referenced.add(digest);
      const body = JSON.parse((await driver.getContent(layout.blobData(digest))).toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
      for (const d of [body.config, ...(body.layers ?? []), ...(body.manifests ?? [])]) if (d) referenced.add(d.digest);
    }
    for (const digest of await digestsUnder(driver, `${layout.repository(name)}/_layers`)) if (!referenced.has(digest)) left.push(`layer link ${name}@${digest}`);
    for (const upload of await listOrEmpty(driver, `${layout.repository(name)}/_uploads`)) left.push(`upload ${name} ${lastPart(upload)}`);
    for (const digest of referenced) referencedAnywhere.add(digest);
  }
  for (const digest of await blobDigests(driver)) if (!referencedAnywhere.has(digest)) left.push(`blob ${digest}`);
  return left;
}

async function blobDigests(driver: StorageDriver): Promise<string[]> {
  const digests: string[] = [];
  for (const prefix of await listOrEmpty(driver, '/blobs/sha256')) for (const hex of await listOrEmpty(driver, prefix)) digests.push(`sha256:${lastPart(hex)}`);
  return digests;
}

/** fsck's errors (each as `kind path`), for an assertion that the storage is whole. */
export async function fsckErrors(driver: StorageDriver): Promise<string[]> {
  const report = await checkStorage(driver, { graceMs: 0, uploadTtlMs: 24 * 3_600_000 });
  return report.problems.filter((p) => p.severity === 'error').map((p) => `${p.kind} ${p.path} ${p.digest ?? ''}: ${p.message}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A Client whose requests go through one keep-alive node:http Agent (so that closing it closes
 * every connection: a server's open descriptors can then be counted) and whose answers are
 * tallied by status.
 */
export class AgentClient extends Client {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly statuses = new Map<number, number>();
  /** `METHOD path -> status` of every 5xx answer. */
  readonly serverErrors: string[] = [];

  override async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const body = options.body === undefined ? undefined : Buffer.from(options.body as Uint8Array | string);
    const reply = (await rawRequest(this.base, this.agent, { method, path, headers: options.headers, body, timeoutMs: 60_000 }))!;
    this.statuses.set(reply.status, (this.statuses.get(reply.status) ?? 0) + 1);
    if (reply.status >= 500) this.serverErrors.push(`${method} ${path} -> ${reply.status} ${reply.body.toString().slice(0, 200)}`);
    const headers = new Headers();
    for (const [name, value] of Object.entries(reply.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    let json: unknown;
    try {
      json = reply.body.length ? JSON.parse(reply.body.toString('utf8')) : undefined;
    } catch {
      json = undefined;
    }
    return { status: reply.status, headers, body: reply.body, json };
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadOptions {
  clients: number;
  seconds: number;
}

export interface LoadResult {
  operations: Record<string, number>;
  requests: number;
  serverErrors: string[];
  /** Client-side failures other than answers (a request that never got one). */
  failures: string[];
  images: PushedImage[];
}

/**
 * `clients` concurrent clients for `seconds`, each against one of `urls` at random per operation:
 * small image pushes, pulls with verified digests, tag lists, HEADs, and uploads dropped in the
 * middle of their body. Every pushed image is returned for checking afterwards.
 */
export async function runLoad(urls: string[], options: LoadOptions): Promise<LoadResult> {
  const clients = urls.map((url) => new AgentClient(url));
  const pick = () => clients[Math.floor(Math.random() * clients.length)]!;
  const result: LoadResult = { operations: {}, requests: 0, serverErrors: [], failures: [], images: [] };
  const count = (op: string) => (result.operations[op] = (result.operations[op] ?? 0) + 1);
  const deadline = Date.now() + options.seconds * 1000;
  const shared = [randomBytes(30_000), randomBytes(60_000)];
  let pushes = 0;

  const one = async (id: number): Promise<void> => {
    const name = `load/c${id % 10}`;
    const roll = Math.random();
    const client = pick();
    if (roll < 0.3 || result.images.length === 0) {
      const tag = `p${pushes++}`;
      const pushed = await pushImage(client, name, tag, [shared[id % 2]!, randomBytes(2000 + Math.floor(Math.random() * 50_000))]);
      if (pushed.image) result.images.push(pushed.image);
      count('push');
    } else if (roll < 0.6) {
      const image = result.images[Math.floor(Math.random() * result.images.length)]!;
      const problem = await verifyImage(client, image);
      if (problem) result.failures.push(`pull: ${problem}`);
      count('pull');
    } else if (roll < 0.75) {
      const res = await client.get(`/v2/${name}/tags/list?n=${1 + (id % 5)}`);
      if (res.status !== 200 && res.status !== 404) result.failures.push(`tags ${name}: ${res.status}`);
      count('tags');
    } else if (roll < 0.9) {
      const image = result.images[Math.floor(Math.random() * result.images.length)]!;
      const blob = await client.head(`/v2/${image.name}/blobs/${image.blobs[1]}`);
      const manifest = await client.head(`/v2/${image.name}/manifests/${image.tag}`);
      if (blob.status !== 200 || manifest.status !== 200) result.failures.push(`HEAD ${image.name}:${image.tag}: ${blob.status} ${manifest.status}`);
      count('head');
    } else {
      // A client that goes away in the middle of its body: nothing of it may become a blob.
      const data = randomBytes(20_000 + Math.floor(Math.random() * 200_000));
      const patch = Math.random() < 0.5;
      const path = patch ? await client.startUpload(name) : `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`;
      await rawRequest(client.base, undefined, { method: patch ? 'PATCH' : 'POST', path, body: data, headers: { 'Content-Length': String(data.length) }, abortAfter: Math.floor(data.length / 3) });
      if ((await client.head(`/v2/${name}/blobs/${sha256(data)}`)).status !== 404) result.failures.push(`dropped upload of ${sha256(data)} became a blob`);
      count('dropped');
    }
  };

  await Promise.all(
    Array.from({ length: options.clients }, async (_, id) => {
      while (Date.now() < deadline) {
        try {
          await one(id);
        } catch (err) {
          result.failures.push((err as Error).message);
        }
      }
    }),
  );
  for (const client of clients) {
    result.requests += [...client.statuses.values()].reduce((a, b) => a + b, 0);
    result.serverErrors.push(...client.serverErrors);
    client.close();
  }
  return result;
}
