/**
 * Read-only mode: every write endpoint answers 405 UNSUPPORTED `registry is in read-only mode`
 * and changes nothing in storage; every read is served.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { PASSWORDS, basic, startAuthServer, type AuthServer } from '../helpers/auth-server.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

/** Every file below `root` with its size and mtime: what a refused write must leave alone. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(path);
        out.push(`${path.slice(root.length)} ${info.size} ${info.mtimeMs}`);
      }
    }
  }
  await walk(root);
  return out.sort();
}

describe('read-only mode', () => {
  let config: Config;
  let cleanup: () => Promise<void>;
  let server: TestServer;
  let client: Client;
  let root: string;
  const layer = Buffer.from('layer bytes for read-only mode');
  const configBlob = Buffer.from('{"architecture":"amd64","os":"linux"}');
  let manifestDigest: string;
  let referrerDigest: string;
  let upload: string;

  beforeAll(async () => {
    ({ config, cleanup } = await filesystemConfig());
    root = config.storage.filesystem.root;
    const writable = await startTestServer(config);
    const w = new Client(writable.url);
    await w.pushBlob('team/app', layer);
    await w.pushBlob('team/app', configBlob);
    const manifest = imageManifest([sha256(configBlob), configBlob.length], [[sha256(layer), layer.length]]);
    manifestDigest = await w.pushManifest('team/app', 'v1', manifest);
    const size = Buffer.byteLength(JSON.stringify(manifest));
    referrerDigest = await w.pushManifest('team/app', 'sbom', {
      ...imageManifest([sha256(configBlob), configBlob.length], [[sha256(layer), layer.length]]),
      artifactType: 'application/spdx+json',
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size },
    });
    upload = await w.startUpload('team/app');
    await writable.close();
    server = await startTestServer({ ...config, readOnly: true });
    client = new Client(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup();
  });

  it('refuses every write endpoint with 405 UNSUPPORTED and changes nothing', async () => {
    const before = await snapshot(root);
    const blob = Buffer.from('new bytes');
    const uuid = upload.split('/').pop()!;
    const writes: Array<[string, string, Record<string, string>?, string?]> = [
      ['POST', '/v2/team/app/blobs/uploads/'],
      ['POST', `/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`, { 'Content-Type': 'application/octet-stream' }, blob.toString()],
      ['POST', `/v2/other/app/blobs/uploads/?mount=${sha256(layer)}&from=team/app`],
      ['PATCH', `/v2/team/app/blobs/uploads/${uuid}`, { 'Content-Type': 'application/octet-stream' }, blob.toString()],
      ['PUT', `/v2/team/app/blobs/uploads/${uuid}?digest=${sha256(blob)}`, { 'Content-Type': 'application/octet-stream' }, blob.toString()],
      ['DELETE', `/v2/team/app/blobs/uploads/${uuid}`],
      ['PUT', '/v2/team/app/manifests/v2', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, '{}'],
      ['DELETE', '/v2/team/app/manifests/v1'],
      ['DELETE', `/v2/team/app/manifests/${manifestDigest}`],
      ['DELETE', `/v2/team/app/blobs/${sha256(layer)}`],
      ['POST', '/webhooks/github', { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': 'sha256=00' }, '{}'],
      ['POST', '/api/builds', { 'Content-Type': 'application/json' }, '{"repository":"acme/hello","tag":"v1"}'],
      ['POST', '/api/builds/20260101T000000Z-abcdef/cancel'],
    ];
    for (const [method, path, headers, body] of writes) {
      const reply = await client.request(method, path, { headers, body });
      expect({ method, path, status: reply.status, error: reply.json?.errors?.[0] }).toEqual({
        method,
        path,
        status: 405,
        error: { code: 'UNSUPPORTED', message: 'registry is in read-only mode' },
      });
    }
    expect(await snapshot(root)).toEqual(before);
  });

  it('serves every read', async () => {
    const expectStatus = async (path: string, status: number, method = 'GET', headers: Record<string, string> = {}) => {
      const reply = await client.request(method, path, { headers });
      expect({ method, path, status: reply.status }).toEqual({ method, path, status });
      return reply;
    };
    await expectStatus('/v2/', 200);
    expect((await expectStatus(`/v2/team/app/blobs/${sha256(layer)}`, 200)).body).toEqual(layer);
    await expectStatus(`/v2/team/app/blobs/${sha256(layer)}`, 200, 'HEAD');
    await expectStatus(`/v2/team/app/blobs/${sha256(layer)}`, 206, 'GET', { Range: 'bytes=0-3' });
    await expectStatus('/v2/team/app/manifests/v1', 200);
    await expectStatus(`/v2/team/app/manifests/${manifestDigest}`, 200, 'HEAD');
    expect((await expectStatus('/v2/team/app/tags/list', 200)).json.tags).toEqual(['sbom', 'v1']);
    expect((await expectStatus('/v2/_catalog', 200)).json.repositories).toEqual(['team/app']);
    const referrers = await expectStatus(`/v2/team/app/referrers/${manifestDigest}`, 200);
    expect(referrers.json.manifests.map((m: { digest: string }) => m.digest)).toEqual([referrerDigest]);
    await expectStatus(`/v2/team/app/blobs/uploads/${upload.split('/').pop()}`, 204);
    await expectStatus('/api/builds', 200);
    await expectStatus('/api/repositories', 200);
    await expectStatus('/api/repositories/team/app/tags', 200);
    await expectStatus('/api/usage', 200);
    await expectStatus('/healthz', 200);
    await expectStatus('/readyz', 200);
    await expectStatus('/metrics', 200);
  });

  it('keeps the token endpoint working under token auth, and refuses a signed-in push', async () => {
    let s: AuthServer | undefined;
    try {
      s = await startAuthServer((c) => (c.readOnly = true));
      const get = await s.client.get('/token?service=berth-test&scope=repository:team-a/app:pull,push', { Authorization: basic('alice', PASSWORDS.alice!) });
      expect(get.status).toBe(200);
      const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice!, service: 'berth-test', scope: 'repository:team-a/app:pull' });
      const post = await s.client.request('POST', '/token', { body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      expect(post.status).toBe(200);
      const push = await s.client.request('POST', '/v2/team-a/app/blobs/uploads/', { headers: { Authorization: `Bearer ${get.json.token}` } });
      expect(push.status).toBe(405);
      expect(push.json.errors[0].message).toBe('registry is in read-only mode');
      expect((await s.client.get('/v2/team-a/app/tags/list', { Authorization: `Bearer ${get.json.token}` })).status).toBe(404);
    } finally {
      await s?.cleanup();
    }
  });

  it('is switched on by BERTH_READONLY=true', () => {
    expect(loadConfig({ env: { BERTH_READONLY: 'true' } }).readOnly).toBe(true);
    expect(loadConfig({ env: {} }).readOnly).toBe(false);
  });
});
