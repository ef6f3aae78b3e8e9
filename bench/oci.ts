/**
 * The registry flows the scenarios time, over raw HTTP: monolithic (single POST, or POST + PUT)
 * and chunked blob pushes, the docker/skopeo push sequence (HEAD -> POST -> one streamed PATCH ->
 * PUT ?digest=), manifests, and pulls that check the digest of what came back.
 */
import type { Agent } from 'node:http';
import { type BlobSpec, digestOf, randomStream } from './data.js';
import { expectStatus, header, request } from './http.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** The upload URL a response points at (Distribution answers absolute URLs with a `_state`). */
function uploadUrl(base: string, location: string, digest?: string): URL {
  const url = new URL(location, base);
  if (digest) url.searchParams.set('digest', digest);
  return url;
}

async function startUpload(base: string, repo: string, agent?: Agent): Promise<string> {
  const res = expectStatus(await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', agent }), 202, 'start upload');
  return header(res, 'Location');
}

/**
 * One request: POST ?digest= with the whole body. Optional in the spec; Distribution 2.8 answers
 * 202 and drops the body, so callers check `supportsSinglePost` first.
 */
export async function pushSinglePost(base: string, repo: string, blob: BlobSpec, agent?: Agent): Promise<void> {
  const url = `${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(blob.digest)}`;
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size };
  const res = await request(url, { method: 'POST', headers, body: randomStream(blob.seed, 0, blob.size), agent });
  expectStatus(res, 201, 'single-POST upload');
}

/** Whether the registry stores a blob sent in one POST ?digest= (tried with a tiny blob). */
export async function supportsSinglePost(base: string, repo: string): Promise<boolean> {
  const data = Buffer.from(`single-post probe ${Date.now()}`);
  const url = `${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digestOf(data))}`;
  const res = await request(url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: data });
  return res.status === 201;
}

/** The spec's monolithic push: POST to open an upload, then one PUT ?digest= carrying the whole body. */
export async function pushPostPut(base: string, repo: string, blob: BlobSpec, agent?: Agent): Promise<void> {
  const location = await startUpload(base, repo, agent);
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size };
  const res = await request(uploadUrl(base, location, blob.digest), { method: 'PUT', headers, body: randomStream(blob.seed, 0, blob.size), agent });
  expectStatus(res, 201, 'monolithic PUT upload');
}

/** POST, then PATCH chunks of `chunkSize` with Content-Range, then PUT ?digest= with no body. */
export async function pushChunked(base: string, repo: string, blob: BlobSpec, chunkSize: number, agent?: Agent): Promise<void> {
  let location = await startUpload(base, repo, agent);
  for (let offset = 0; offset < blob.size; offset += chunkSize) {
    const length = Math.min(chunkSize, blob.size - offset);
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      'Content-Range': `${offset}-${offset + length - 1}`,
    };
    const res = await request(uploadUrl(base, location), { method: 'PATCH', headers, body: randomStream(blob.seed, offset, length), agent });
    location = header(expectStatus(res, 202, `PATCH chunk at ${offset}`), 'Location');
  }
  expectStatus(await request(uploadUrl(base, location, blob.digest), { method: 'PUT', agent }), 201, 'finish chunked upload');
}

/** As docker and skopeo push a layer: HEAD, POST, one PATCH streaming the body (chunked encoding), PUT. */
export async function pushLikeClients(base: string, repo: string, blob: BlobSpec, agent?: Agent): Promise<'pushed' | 'exists'> {
  const head = await request(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD', agent });
  if (head.status === 200) return 'exists';
  expectStatus(head, 404, 'HEAD blob');
  const location = await startUpload(base, repo, agent);
  const headers = { 'Content-Type': 'application/octet-stream' };
  const patch = await request(uploadUrl(base, location), { method: 'PATCH', headers, body: randomStream(blob.seed, 0, blob.size), agent });
  const next = header(expectStatus(patch, 202, 'PATCH layer'), 'Location');
  expectStatus(await request(uploadUrl(base, next, blob.digest), { method: 'PUT', agent }), 201, 'finish layer upload');
  return 'pushed';
}

/** Pushes a small in-memory blob (a config) the same way clients do. */
export async function pushSmallBlob(base: string, repo: string, data: Buffer, agent?: Agent): Promise<string> {
  const digest = digestOf(data);
  const head = await request(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', agent });
  if (head.status === 200) return digest;
  const location = await startUpload(base, repo, agent);
  const res = await request(uploadUrl(base, location, digest), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: data, agent });
  expectStatus(res, 201, 'push config');
  return digest;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export function imageManifest(config: Descriptor, layers: Descriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }));
}

export function imageConfig(label: string, layerDigests: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'berth.bench': label } },
      rootfs: { type: 'layers', diff_ids: layerDigests },
    }),
  );
}

export async function putManifest(base: string, repo: string, tag: string, manifest: Buffer, agent?: Agent): Promise<string> {
  const res = await request(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest, agent });
  expectStatus(res, 201, `PUT manifest ${repo}:${tag}`);
  return digestOf(manifest);
}

export async function getManifest(base: string, repo: string, reference: string, agent?: Agent): Promise<Buffer> {
  const res = await request(`${base}/v2/${repo}/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST }, agent });
  return expectStatus(res, 200, `GET manifest ${repo}:${reference}`).body;
}

/** GETs a blob, hashing and discarding it; throws when the digest or size is wrong. */
export async function pullBlob(base: string, repo: string, digest: string, size: number, agent?: Agent): Promise<void> {
  const res = expectStatus(await request(`${base}/v2/${repo}/blobs/${digest}`, { read: 'hash', agent }), 200, `GET blob ${digest}`);
  if (res.digest !== digest || res.bytes !== size) {
    throw new Error(`GET blob ${digest}: got ${res.bytes} bytes with digest ${res.digest}, expected ${size} bytes`);
  }
}
