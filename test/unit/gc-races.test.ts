/**
 * The two sides of gc's race with a push that reuses what is there, played out step by step with
 * a driver that pauses at the instant that matters (the same races the load test in
 * test/api/gc-load.test.ts hits by chance):
 * - gc deletes a layer link a manifest being pushed right then names: gc's look after deleting
 *   sees the new manifest and puts the links back;
 * - gc finishes between a manifest push's first check and its write: the push's check after
 *   writing sees the links gone and fails (the client pushes again) instead of acknowledging an
 *   image whose blobs are gone.
 */
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { createLogger } from '../../src/log.js';
import { checkStorage } from '../../src/registry/fsck.js';
import { collectGarbage } from '../../src/registry/gc.js';
import * as layout from '../../src/registry/layout.js';
import { Registry } from '../../src/registry/registry.js';
import { createStorageDriver } from '../../src/storage.js';
import { imageManifest, sha256 } from '../helpers/http.js';
import { tempDir } from '../helpers/tmp.js';

type Hook = (path: string) => Promise<void>;

/** A driver that runs `before.delete` / `before.putContent` hooks before doing the real thing. */
function pausing(inner: StorageDriver, before: { delete?: Hook; putContent?: Hook }): StorageDriver {
  return Object.assign(Object.create(inner) as StorageDriver, {
    async delete(path: string) {
      await before.delete?.(path);
      return inner.delete(path);
    },
    async putContent(path: string, data: Uint8Array) {
      await before.putContent?.(path);
      return inner.putContent(path, data);
    },
  });
}

describe('gc racing a push that reuses what is there', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let raw: StorageDriver;
  const config = Buffer.from('{"os":"linux"}');
  const layer = Buffer.from('a layer gc is about to collect');
  const manifest = Buffer.from(JSON.stringify(imageManifest([sha256(config), config.length], [[sha256(layer), layer.length]])));
  const gc = (driver: StorageDriver) => collectGarbage(driver, { dryRun: false, graceMs: 0, uploadTtlMs: 3_600_000 });

  beforeEach(async () => {
    dir = await tempDir('berth-gc-race-');
    raw = await createStorageDriver({ driver: 'filesystem', filesystem: { root: dir.path } } as Parameters<typeof createStorageDriver>[0]);
  });
  afterEach(async () => {
    await dir.remove();
  });

  async function blobsIn(registry: Registry, name: string): Promise<void> {
    for (const data of [config, layer]) await registry.uploads.putWhole(name, sha256(data), Readable.from([data]));
  }

  it('puts back the links gc deleted when a manifest naming them arrived meanwhile', async () => {
    const log = createLogger('silent');
    const pushing = new Registry(raw, { maxManifestSize: 4 * 1024 * 1024, maxBlobSize: 0 }, log);
    await blobsIn(pushing, 'race/a');
    let pushed = false;
    const driver = pausing(raw, {
      delete: async (path) => {
        if (!pushed && path.startsWith(`${layout.repository('race/a')}/_layers/`)) {
          pushed = true; // the client's HEADs found both blobs; its manifest lands now
          await pushing.manifests.put('race/a', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
        }
      },
    });
    await gc(driver);
    expect(pushed).toBe(true);
    for (const data of [config, layer]) expect(await pushing.blobs.stat('race/a', sha256(data))).toMatchObject({ size: data.length });
    expect((await pushing.manifests.get('race/a', 'v1')).digest).toBe(sha256(manifest));
    expect((await checkStorage(raw, { graceMs: 0, uploadTtlMs: 3_600_000 })).problems).toEqual([]);
  });

  it('refuses a manifest whose links gc removed between its first check and its write', async () => {
    const log = createLogger('silent');
    const driver = pausing(raw, {
      putContent: async (path) => {
        if (path === layout.manifestRevisionLink('race/b', sha256(manifest))) await gc(raw); // gc runs to its end right here
      },
    });
    const pushing = new Registry(driver, { maxManifestSize: 4 * 1024 * 1024, maxBlobSize: 0 }, log);
    await blobsIn(pushing, 'race/b');
    await expect(pushing.manifests.put('race/b', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json')).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });
    // Pushed again, blobs first (as a client does after that answer), it is whole.
    await blobsIn(new Registry(raw, { maxManifestSize: 4 * 1024 * 1024, maxBlobSize: 0 }, log), 'race/b');
    const again = new Registry(raw, { maxManifestSize: 4 * 1024 * 1024, maxBlobSize: 0 }, log);
    await again.manifests.put('race/b', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
    expect((await checkStorage(raw, { graceMs: 0, uploadTtlMs: 3_600_000 })).problems).toEqual([]);
  });
});
