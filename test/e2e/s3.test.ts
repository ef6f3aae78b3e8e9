/** skopeo against Berth on S3 (s3rver): a multi-layer image and an index, in and out byte for byte. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { s3Config } from '../helpers/s3-config.js';
import { useS3rver } from '../helpers/s3rver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const s3 = useS3rver();

describe('skopeo against Berth on S3', { timeout: 120_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;

  beforeAll(async () => {
    const made = await s3Config(s3());
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    work = await tempDir('berth-e2e-s3-');
    layout = await makeTestLayout(work.path);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
    await work?.remove();
  });

  it('copies a multi-layer image and a multi-platform index in and out', async () => {
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${server.host}/s3/app:1`]);
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${server.host}/s3/multi:1`]);
    for (const [repo, tag, all] of [['s3/app:1', 'test', false], ['s3/multi:1', 'multi', true]] as const) {
      const out = join(work.path, `out-${tag}`);
      await run('skopeo', ['copy', ...(all ? ['--all'] : []), '--src-tls-verify=false', `docker://${server.host}/${repo}`, `oci:${out}:x`]);
      const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      expect(index.manifests[0]!.digest).toBe(await layout.digestOf(tag));
      const pending = [index.manifests[0]!.digest];
      let blobs = 0;
      while (pending.length > 0) {
        const digest = pending.pop()!;
        const bytes = await readFile(join(out, 'blobs', ...digest.split(':')));
        expect(bytes.equals(await layout.blob(digest)), digest).toBe(true);
        blobs += 1;
        const body = JSON.parse(bytes.toString()) as { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
        pending.push(...(body.manifests ?? []).map((m) => m.digest));
        for (const blob of [...(body.config ? [body.config] : []), ...(body.layers ?? [])]) {
          expect((await readFile(join(out, 'blobs', ...blob.digest.split(':')))).equals(await layout.blob(blob.digest))).toBe(true);
          blobs += 1;
        }
      }
      expect(blobs).toBeGreaterThanOrEqual(all ? 9 : 4);
    }
    const tags = JSON.parse((await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${server.host}/s3/app`])).stdout) as { Tags: string[] };
    expect(tags.Tags).toEqual(['1']);
  });
});
