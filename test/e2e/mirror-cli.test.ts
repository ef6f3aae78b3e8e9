/**
 * `berth mirror SRC DEST` as users run it (the compiled CLI, a real process): an index with every
 * platform from CNCF Distribution, one platform of it, an image with its referrers from a Berth
 * upstream, credentials from a proxies[] entry or from standard input, and clear refusals.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, bearer, getToken, PASSWORDS, startAuthServer } from '../helpers/auth-server.js';
import { type Distribution, startDistribution } from '../helpers/distribution.js';
import { Client, sha256 } from '../helpers/http.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { pushRandomImage, type PushedImage } from '../helpers/proxy.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

async function berth(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('berth mirror', { timeout: 120_000 }, () => {
  let work: { path: string; remove: () => Promise<void> };
  let layout: TestLayout;
  let distribution: Distribution;
  let plain: TestServer;
  let plainCleanup: () => Promise<void>;
  let authUpstream: AuthServer;
  let signed: PushedImage;
  let signature: Buffer;
  let config: string;
  let root: string;
  let target: TestServer | undefined;

  /** A Berth reading the storage the CLI wrote (started once the copies are made). */
  const berthClient = async (): Promise<Client> => {
    if (!target) {
      const made = await filesystemConfig((c) => {
        c.storage = { ...c.storage, filesystem: { root } };
      });
      target = await startTestServer(made.config);
    }
    return new Client(target.url);
  };

  beforeAll(async () => {
    work = await tempDir('berth-mirror-');
    layout = await makeTestLayout(work.path);
    distribution = await startDistribution();
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${distribution.host}/demo/multi:1`]);

    const made = await filesystemConfig();
    plainCleanup = made.cleanup;
    plain = await startTestServer(made.config);
    const client = new Client(plain.url);
    signed = await pushRandomImage(client, 'acme/app', '1', [3000]);
    const empty = Buffer.from('{}');
    await client.pushBlob('acme/app', empty);
    signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.sbom',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
        layers: [],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: signed.digest, size: signed.manifest.length },
      }),
    );
    await client.request('PUT', `/v2/acme/app/manifests/${sha256(signature)}`, { body: signature, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });

    authUpstream = await startAuthServer();
    const token = await getToken(authUpstream.client, 'alice', ['repository:team-a/app:push,pull']);
    await pushRandomImage(new Client(authUpstream.server.url, bearer(token)), 'team-a/app', '1', [2000]);

    root = join(work.path, 'store');
    config = join(work.path, 'berth.yaml');
    await writeFile(
      config,
      [
        'storage:',
        `  filesystem: { root: ${JSON.stringify(root)} }`,
        'proxies:',
        '  - prefix: hub',
        '    url: https://registry-1.docker.io',
        '  - prefix: private',
        `    url: ${authUpstream.server.url}`,
        '    username: carol',
        `    password: ${PASSWORDS.carol}`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await target?.close();
    await authUpstream?.cleanup();
    await plain?.close();
    await plainCleanup?.();
    await distribution?.remove();
    await work?.remove();
  });

  it('copies an index with every platform', async () => {
    const result = await berth(['mirror', `http://${distribution.host}/demo/multi:1`, 'mirror/multi:1', '--all-platforms', '--config', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const digest = await layout.digestOf('multi');
    expect(result.stdout).toContain(`mirror/multi:1@${digest} (${OCI_INDEX}): 3 manifests`);
    const client = await berthClient();
    const index = await client.get('/v2/mirror/multi/manifests/1', { Accept: OCI_INDEX });
    expect(index.headers.get('docker-content-digest')).toBe(digest);
    for (const child of (index.json as { manifests: { digest: string }[] }).manifests) {
      const manifest = await client.get(`/v2/mirror/multi/manifests/${child.digest}`);
      expect(manifest.status).toBe(200);
      for (const layer of (manifest.json as { layers: { digest: string }[] }).layers) {
        expect((await client.head(`/v2/mirror/multi/blobs/${layer.digest}`)).status).toBe(200);
      }
    }
  });

  it('copies the one image of a platform from an index, tagged as DEST', async () => {
    const result = await berth(['mirror', `http://${distribution.host}/demo/multi:1`, 'mirror/arm', '--platform', 'linux/arm64', '--config', config]);
    expect(result.code).toBe(0);
    const arm = await layout.digestOf('test-arm64');
    expect(result.stdout).toContain(`mirror/arm:1@${arm}`);
    const missing = await berth(['mirror', `http://${distribution.host}/demo/multi:1`, 'mirror/s390x:1', '--platform', 'linux/s390x', '--config', config]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is an index without linux/s390x (it has linux/amd64, linux/arm64)');
  });

  it('copies an image with its referrers', async () => {
    const result = await berth(['mirror', `http://${plain.host}/acme/app:1`, 'pinned/app:1', '--referrers', '--config', config]);
    expect(result.code).toBe(0);
    const client = await berthClient();
    const referrers = await client.get(`/v2/pinned/app/referrers/${signed.digest}`);
    expect(referrers.json.manifests.map((d: { digest: string }) => d.digest)).toEqual([sha256(signature)]);
    expect((await client.get(`/v2/pinned/app/blobs/${sha256(signed.layers[0]!)}`)).body.equals(signed.layers[0]!)).toBe(true);
  });

  it('signs in with a proxies[] entry for the same registry, or with --username and the password on standard input', async () => {
    const fromConfig = await berth(['mirror', `http://${authUpstream.server.host}/team-a/app:1`, 'pinned/team-app:1', '--config', config]);
    expect(fromConfig.stderr).toBe('');
    expect(fromConfig.code).toBe(0);
    const given = await berth(['mirror', `http://${authUpstream.server.host}/team-a/app:1`, 'pinned/team-app:2', '--username', 'carol', '--password-stdin', '--config', config], `${PASSWORDS.carol}\n`);
    expect(given.code).toBe(0);
    const wrong = await berth(['mirror', `http://${authUpstream.server.host}/team-a/app:1`, 'pinned/team-app:3', '--username', 'carol', '--password-stdin', '--config', config], 'wrong\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/answered 401/);
    expect(wrong.stderr).not.toContain('wrong');
  });

  it('refuses a destination inside a pull-through cache, and names what the source registry answered', async () => {
    const cached = await berth(['mirror', `http://${plain.host}/acme/app:1`, 'hub/library/app:1', '--config', config]);
    expect(cached.code).toBe(2);
    expect(cached.stderr).toContain('hub/library/app is under hub/, the pull-through cache of https://registry-1.docker.io');
    const unknown = await berth(['mirror', `http://${plain.host}/acme/app:404`, 'pinned/app:404', '--config', config]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`upstream http://${plain.host} answered 404 for manifest acme/app:404`);
  });
});
