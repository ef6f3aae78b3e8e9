/**
 * A registry with one of each problem `berth fsck` finds, made through the driver only (so the
 * same scenario runs on the filesystem and on S3): pushes over HTTP, then damage written straight
 * into storage. `expected` lists what fsck must report, as `kind repository@digest`.
 */
import { randomBytes } from 'node:crypto';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import * as layout from '../../src/registry/layout.js';
import { type Client, imageManifest, sha256 } from './http.js';

export interface FsckScenario {
  /** `kind repository@digest` (or `kind repository` / `kind path`) of every problem made. */
  expected: string[];
  /** What repair removes (the repairable ones). */
  repairable: string[];
  /** Blob and manifest bytes that must survive any repair. */
  kept: string[];
  /** A corrupted blob (reported only without --quick). */
  corrupt: string;
}

export function problemKey(p: { kind: string; repository?: string; digest?: string; path: string }): string {
  if (p.repository) return `${p.kind} ${p.repository}${p.digest ? `@${p.digest}` : ''}`;
  return `${p.kind} ${p.digest ?? p.path}`;
}

async function image(client: Client, name: string, tag: string, layers: Buffer[]): Promise<{ manifest: string; bytes: number; config: string; layers: string[] }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, n: randomBytes(4).toString('hex') }));
  const configDigest = await client.pushBlob(name, config);
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await client.pushBlob(name, layer));
  const body = imageManifest([configDigest, config.length], layerDigests.map((d, i) => [d, layers[i]!.length]));
  const manifest = await client.pushManifest(name, tag, body);
  return { manifest, bytes: Buffer.byteLength(JSON.stringify(body)), config: configDigest, layers: layerDigests };
}

export async function makeFsckScenario(client: Client, driver: StorageDriver): Promise<FsckScenario> {
  const shared = randomBytes(700);
  const a = await image(client, 'fsck/a', 'v1', [shared, randomBytes(900)]);
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: a.manifest, size: a.bytes, platform: { os: 'linux', architecture: 'amd64' } }] };
  await client.pushManifest('fsck/a', 'multi', index);
  const empty = await client.pushBlob('fsck/a', '{}');
  const referrer = imageManifest([empty, 2], [], {
    artifactType: 'application/spdx+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: a.manifest, size: a.bytes },
  });
  await client.pushManifest('fsck/a', sha256(JSON.stringify(referrer)), referrer);
  const b = await image(client, 'fsck/b', 'v1', [shared]);

  const expected: string[] = [];
  const repairable: string[] = [];
  const damage = (key: string, canRepair = false) => {
    expected.push(key);
    if (canRepair) repairable.push(key);
  };

  // Bytes that do not hash to their digest.
  const corrupt = a.layers[1]!;
  await driver.putContent(layout.blobData(corrupt), randomBytes(900));
  damage(`blob-corrupt ${corrupt}`);
  // A layer link whose blob bytes are gone (nothing references the blob).
  const lone = await client.pushBlob('fsck/c', randomBytes(100));
  await driver.delete(layout.blobData(lone));
  damage(`layer-link-dangling fsck/c@${lone}`, true);
  // A manifest revision whose bytes are gone, and the tag naming it.
  const d = await image(client, 'fsck/d', 't', [randomBytes(50)]);
  await driver.delete(layout.blobData(d.manifest));
  damage(`revision-dangling fsck/d@${d.manifest}`, true);
  damage(`tag-dangling fsck/d@${d.manifest}`, true);
  // A manifest whose layer the repository no longer links (its pulls get 404).
  await driver.delete(layout.layerLink('fsck/b', b.layers[0]!));
  damage(`manifest-layer-unlinked fsck/b@${b.manifest}`);
  // A tag naming a manifest that never was.
  const ghost = sha256('no such manifest');
  await driver.putContent(layout.tagCurrentLink('fsck/a', 'ghost'), Buffer.from(ghost));
  damage(`tag-dangling fsck/a@${ghost}`, true);
  // A referrer entry whose referrer is gone.
  const gone = sha256('a referrer that was deleted');
  await driver.putContent(layout.referrerLink('fsck/a', a.manifest, gone), Buffer.from(gone));
  damage(`referrer-dangling fsck/a@${gone}`, true);
  // A revision link to bytes that are no manifest.
  await driver.putContent(layout.manifestRevisionLink('fsck/f', b.config), Buffer.from(b.config));
  damage(`manifest-invalid fsck/f@${b.config}`);
  // An index whose child manifest the repository lost.
  const g = await image(client, 'fsck/g', 'child', [randomBytes(60)]);
  const gIndex = await client.pushManifest('fsck/g', 'idx', { ...index, manifests: [{ ...index.manifests[0], digest: g.manifest, size: g.bytes }] });
  await driver.delete(layout.manifestRevisionLink('fsck/g', g.manifest));
  damage(`manifest-child-missing fsck/g@${gIndex}`);
  damage(`tag-dangling fsck/g@${g.manifest}`, true);
  // A manifest whose layer bytes are gone (and so its layer link dangles).
  const h = await image(client, 'fsck/h', 'v1', [randomBytes(80)]);
  await driver.delete(layout.blobData(h.layers[0]!));
  damage(`manifest-blob-missing fsck/h@${h.manifest}`);
  damage(`layer-link-dangling fsck/h@${h.layers[0]}`, true);
  // Upload folders: one that is no upload id, one whose data is gone.
  await driver.putContent('/repositories/fsck/e/_uploads/not-an-upload/data', Buffer.from('x'));
  damage('upload-orphan fsck/e', true);
  if (driver.name !== 's3') {
    // (On S3 an upload's bytes live apart until commit: no data is no sign of an orphan there.)
    const location = await client.startUpload('fsck/e');
    const uuid = location.slice(location.lastIndexOf('/') + 1);
    await driver.delete(layout.uploadData('fsck/e', uuid));
    damage('upload-orphan fsck/e', true);
  }
  // Berth state that does not parse.
  await driver.putContent('/_berth/auth/tokens/broken.json', Buffer.from('{"id": "broken", '));
  damage('state-invalid /_berth/auth/tokens/broken.json');

  return { expected: expected.sort(), repairable: repairable.sort(), kept: [corrupt, a.manifest, b.manifest, a.layers[0]!, gIndex, h.manifest], corrupt: `blob-corrupt ${corrupt}` };
}
