/**
 * The API suite: every endpoint of the OCI distribution spec v1.1 and its error paths, against a
 * real server on an ephemeral port. It takes a config factory, so that every storage driver runs
 * it unchanged (filesystem here, S3 in its own file).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { Client, errorCode, imageManifest, sha256, sha512, withQuery } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

export type ConfigFactory = (overrides?: (config: Config) => void) => Promise<{ config: Config; cleanup: () => Promise<void> }>;

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const EMPTY_JSON = '{}';

let counter = 0;
/** A fresh repository name per test, so tests sharing a server never see each other's data. */
function repo(prefix = 'test'): string {
  counter += 1;
  return `${prefix}/r${counter}-${randomBytes(3).toString('hex')}`;
}

export function runApiSuite(name: string, factory: ConfigFactory): void {
  describe(`registry API (${name} storage)`, { timeout: 60_000 }, () => {
    let server: TestServer;
    let client: Client;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const made = await factory();
      cleanup = made.cleanup;
      server = await startTestServer(made.config);
      client = new Client(server.url);
    });

    afterAll(async () => {
      await server?.close();
      await cleanup?.();
    });

    /** Pushes a config and one layer and an image manifest under `tag`; returns the digests. */
    async function pushImage(name: string, tag: string, layer = randomBytes(100)) {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(4).toString('hex') }));
      const configDigest = await client.pushBlob(name, config);
      const layerDigest = await client.pushBlob(name, layer);
      const manifest = imageManifest([configDigest, config.length], [[layerDigest, layer.length]]);
      const digest = await client.pushManifest(name, tag, manifest);
      return { digest, configDigest, layerDigest, manifest, bytes: Buffer.from(JSON.stringify(manifest)) };
    }

    describe('base', () => {
      it('answers GET /v2/ with the API version header', async () => {
        const res = await client.get('/v2/');
        expect(res.status).toBe(200);
        expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        expect(res.headers.get('content-type')).toBe('application/json');
        expect(res.json).toEqual({});
        expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('answers unknown paths and methods with OCI error JSON', async () => {
        const unknown = await client.get('/v2/some/thing/else');
        expect(unknown.status).toBe(404);
        expect(errorCode(unknown)).toBe('UNSUPPORTED');
        const method = await client.request('POST', '/v2/_catalog');
        expect(method.status).toBe(405);
        expect(errorCode(method)).toBe('UNSUPPORTED');
        expect(method.headers.get('content-type')).toBe('application/json');
      });

      it('echoes a sane X-Request-Id and logs the request with it', async () => {
        const res = await client.get('/v2/', { 'X-Request-Id': 'trace-abc.123' });
        expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
        await new Promise((resolve) => setTimeout(resolve, 50));
        const line = server.logs.find((l) => l.requestId === 'trace-abc.123' && l.msg === 'request');
        expect(line).toMatchObject({ method: 'GET', path: '/v2/', status: 200 });
        const odd = await client.get('/v2/', { 'X-Request-Id': 'bad id with spaces' });
        expect(odd.headers.get('x-request-id')).not.toBe('bad id with spaces');
      });
    });

    describe('names and digests', () => {
      it.each([
        ['uppercase', 'Demo/app'],
        ['double slash', 'demo//app'],
        ['leading dash', '-demo/app'],
        ['trailing separator', 'demo/app-'],
        ['underscore start', '_demo/app'],
        ['three dots', 'demo...app'],
        ['too long', `${'a'.repeat(250)}/${'b'.repeat(10)}`],
      ])('refuses a bad name (%s) with NAME_INVALID', async (_why, bad) => {
        for (const path of [`/v2/${bad}/tags/list`, `/v2/${bad}/manifests/latest`]) {
          const res = await client.get(path);
          expect(res.status).toBe(400);
          expect(errorCode(res)).toBe('NAME_INVALID');
        }
        const post = await client.request('POST', `/v2/${bad}/blobs/uploads/`);
        expect(errorCode(post)).toBe('NAME_INVALID');
      });

      it('says which rule a bad name broke', async () => {
        const message = async (bad: string) => ((await client.get(`/v2/${bad}/tags/list`)).json as { errors: { message: string }[] }).errors[0]!.message;
        expect(await message('Demo/app')).toBe('invalid repository name: "Demo" has an uppercase letter (D): names are lowercase');
        expect(await message('demo//app')).toBe('invalid repository name: an empty path component (a leading, trailing or double "/")');
        expect(await message('demo/app-')).toBe('invalid repository name: "app-" ends with "-": a component ends with a letter or digit');
        expect(await message('demo...app')).toBe('invalid repository name: "demo...app" has "..." between letters: use one ".", one or two "_", or any number of "-"');
        expect(await message('demo/a%2Cb')).toBe('invalid repository name: "a,b" has the character ",": only a-z, 0-9, ".", "_", "-" and "/" between components');
      });

      it('takes names up to 255 characters with every separator', async () => {
        const long = `a/${'b'.repeat(253)}`;
        expect(long.length).toBe(255);
        await client.pushBlob(long, 'x');
        const odd = 'a.b/c__d/e---f/g_h';
        await client.pushBlob(odd, 'x');
        expect((await client.head(`/v2/${odd}/blobs/${sha256('x')}`)).status).toBe(200);
      });

      it.each(['sha256:xyz', 'sha256:ABCDEF', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256', `sha256:${'a'.repeat(63)}`, 'nocolon'])(
        'refuses the malformed digest %s with DIGEST_INVALID',
        async (bad) => {
          const res = await client.get(`/v2/${repo()}/blobs/${bad}`);
          expect(res.status).toBe(400);
          expect(errorCode(res)).toBe('DIGEST_INVALID');
        },
      );
    });

    describe('blob upload', () => {
      it('takes a monolithic POST ?digest= and serves the blob back', async () => {
        const name = repo();
        const data = randomBytes(1000);
        const digest = sha256(data);
        const res = await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data });
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/${digest}`);
        expect(res.headers.get('docker-content-digest')).toBe(digest);

        const got = await client.get(`/v2/${name}/blobs/${digest}`);
        expect(got.status).toBe(200);
        expect(got.body.equals(data)).toBe(true);
        expect(got.headers.get('content-type')).toBe('application/octet-stream');
        expect(got.headers.get('content-length')).toBe('1000');
        expect(got.headers.get('docker-content-digest')).toBe(digest);
        expect(got.headers.get('accept-ranges')).toBe('bytes');

        const head = await client.head(`/v2/${name}/blobs/${digest}`);
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe('1000');
        expect(head.body.length).toBe(0);
      });

      it('starts a session with Location, Range and Docker-Upload-UUID, and finishes it with PUT', async () => {
        const name = repo();
        const res = await client.request('POST', `/v2/${name}/blobs/uploads/`);
        expect(res.status).toBe(202);
        const location = res.headers.get('location')!;
        expect(location).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
        expect(res.headers.get('range')).toBe('0-0');
        expect(location.endsWith(res.headers.get('docker-upload-uuid')!)).toBe(true);
        expect(res.headers.get('content-length')).toBe('0');

        const data = randomBytes(5000);
        const put = await client.request('PUT', withQuery(location, `digest=${sha256(data)}`), { body: data });
        expect(put.status).toBe(201);
        expect(put.headers.get('location')).toBe(`/v2/${name}/blobs/${sha256(data)}`);
        expect((await client.get(`/v2/${name}/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
      });

      it('takes a streamed PATCH (chunked transfer, no Content-Length) then an empty PUT', async () => {
        const name = repo();
        const data = randomBytes(300_000);
        const location = await client.startUpload(name);
        async function* pieces() {
          for (let i = 0; i < data.length; i += 65_536) yield data.subarray(i, i + 65_536);
        }
        const patch = await client.request('PATCH', location, { body: pieces(), headers: { 'Content-Type': 'application/octet-stream' } });
        expect(patch.status).toBe(202);
        expect(patch.headers.get('range')).toBe(`0-${data.length - 1}`);
        const put = await client.request('PUT', withQuery(patch.headers.get('location')!, `digest=${sha256(data)}`));
        expect(put.status).toBe(201);
        expect((await client.get(`/v2/${name}/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
      });

      it('takes chunks in order, refuses them out of order with 416 and the current Range', async () => {
        const name = repo();
        const data = randomBytes(42);
        const [first, second] = [data.subarray(0, 22), data.subarray(22)];

        const fresh = await client.startUpload(name);
        const early = await client.request('PATCH', fresh, { body: second, headers: { 'Content-Range': '22-41' } });
        expect(early.status).toBe(416);
        expect(errorCode(early)).toBe('BLOB_UPLOAD_INVALID');
        expect(early.headers.get('range')).toBe('0-0');

        const location = await client.startUpload(name);
        const one = await client.request('PATCH', location, { body: first, headers: { 'Content-Range': '0-21', 'Content-Length': '22' } });
        expect(one.status).toBe(202);
        expect(one.headers.get('range')).toBe('0-21');

        const again = await client.request('PATCH', location, { body: first, headers: { 'Content-Range': '0-21' } });
        expect(again.status).toBe(416);
        expect(again.headers.get('range')).toBe('0-21');

        const status = await client.get(location);
        expect(status.status).toBe(204);
        expect(status.headers.get('range')).toBe('0-21');
        expect(status.headers.get('location')).toBe(location);

        const two = await client.request('PATCH', status.headers.get('location')!, { body: second, headers: { 'Content-Range': '22-41' } });
        expect(two.status).toBe(202);
        expect(two.headers.get('range')).toBe('0-41');
        const put = await client.request('PUT', withQuery(two.headers.get('location')!, `digest=${sha256(data)}`), {
          headers: { 'Content-Length': '0' },
        });
        expect(put.status).toBe(201);
        expect((await client.get(`/v2/${name}/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
      });

      it('takes the last chunk with the closing PUT, and checks its Content-Range', async () => {
        const name = repo();
        const data = randomBytes(100);
        const location = await client.startUpload(name);
        await client.request('PATCH', location, { body: data.subarray(0, 60), headers: { 'Content-Range': '0-59' } });
        const wrong = await client.request('PUT', withQuery(location, `digest=${sha256(data)}`), {
          body: data.subarray(60),
          headers: { 'Content-Range': '50-89' },
        });
        expect(wrong.status).toBe(416);
        const put = await client.request('PUT', withQuery(location, `digest=${sha256(data)}`), {
          body: data.subarray(60),
          headers: { 'Content-Range': '60-99' },
        });
        expect(put.status).toBe(201);
        expect((await client.get(`/v2/${name}/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
      });

      it.each(['bytes', '5', 'a-b', '10-5', '-5'])('refuses the Content-Range %j', async (bad) => {
        const location = await client.startUpload(repo());
        const res = await client.request('PATCH', location, { body: 'abc', headers: { 'Content-Range': bad } });
        expect([400, 416]).toContain(res.status);
        expect(errorCode(res)).toBe('BLOB_UPLOAD_INVALID');
        expect((await client.get(location)).headers.get('range')).toBe('0-0');
      });

      it('refuses a Content-Range that disagrees with Content-Length', async () => {
        const location = await client.startUpload(repo());
        const res = await client.request('PATCH', location, { body: 'abc', headers: { 'Content-Range': '0-9', 'Content-Length': '3' } });
        expect(res.status).toBe(416);
        expect((await client.get(location)).headers.get('range')).toBe('0-0');
      });

      it('drops the upload on a wrong digest: DIGEST_INVALID, no blob, no leftovers', async () => {
        const name = repo();
        const data = randomBytes(2048);
        const wrongDigest = sha256('something else');
        const location = await client.startUpload(name);
        const uuid = location.slice(location.lastIndexOf('/') + 1);
        const res = await client.request('PUT', withQuery(location, `digest=${wrongDigest}`), { body: data });
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('DIGEST_INVALID');
        expect((await client.get(location)).status).toBe(404);
        expect((await client.head(`/v2/${name}/blobs/${wrongDigest}`)).status).toBe(404);
        expect((await client.head(`/v2/${name}/blobs/${sha256(data)}`)).status).toBe(404);
        const driver = server.app.registry.driver;
        await expect(driver.stat(`/repositories/${name}/_uploads/${uuid}`)).rejects.toThrow();
        await expect(driver.stat(`/blobs/sha256/${sha256(data).slice(7, 9)}/${sha256(data).slice(7)}/data`)).rejects.toThrow();

        const mono = await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${wrongDigest}`, { body: data });
        expect(mono.status).toBe(400);
        expect(errorCode(mono)).toBe('DIGEST_INVALID');
        expect((await client.head(`/v2/${name}/blobs/${wrongDigest}`)).status).toBe(404);
        await expect(driver.list(`/repositories/${name}/_uploads`)).rejects.toThrow();
      });

      it('keeps nothing of a monolithic upload whose client goes away mid-body, and logs no error', async () => {
        const name = repo();
        const data = randomBytes(100_000);
        const { port } = new URL(server.url);
        const errorsBefore = server.logs.filter((l) => Number(l.level) >= 50).length;
        const socket = connect(Number(port), '127.0.0.1');
        await once(socket, 'connect');
        socket.write(
          `POST /v2/${name}/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`,
        );
        socket.write(data.subarray(0, 10_000));
        await new Promise((resolve) => setTimeout(resolve, 100));
        socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(server.logs.filter((l) => Number(l.level) >= 50).length).toBe(errorsBefore);
        expect((await client.head(`/v2/${name}/blobs/${sha256(data)}`)).status).toBe(404);
        await expect(server.app.registry.driver.list(`/repositories/${name}/_uploads`)).rejects.toThrow();
      });

      it('needs a well-formed digest to finish', async () => {
        const location = await client.startUpload(repo());
        const missing = await client.request('PUT', location, { body: 'abc' });
        expect(missing.status).toBe(400);
        expect(errorCode(missing)).toBe('DIGEST_INVALID');
        const bad = await client.request('PUT', withQuery(location, 'digest=sha256:nothex'), { body: 'abc' });
        expect(errorCode(bad)).toBe('DIGEST_INVALID');
        expect((await client.get(location)).status).toBe(204);
      });

      it('verifies sha512 digests', async () => {
        const name = repo();
        const data = randomBytes(777);
        const location = await client.startUpload(name);
        await client.request('PATCH', location, { body: data });
        const put = await client.request('PUT', withQuery(location, `digest=${sha512(data)}`));
        expect(put.status).toBe(201);
        const got = await client.get(`/v2/${name}/blobs/${sha512(data)}`);
        expect(got.body.equals(data)).toBe(true);
        expect(got.headers.get('docker-content-digest')).toBe(sha512(data));
      });

      it('stores a zero-byte blob', async () => {
        const name = repo();
        const digest = await client.pushBlob(name, Buffer.alloc(0));
        const got = await client.get(`/v2/${name}/blobs/${digest}`);
        expect(got.status).toBe(200);
        expect(got.headers.get('content-length')).toBe('0');
      });

      it('answers BLOB_UPLOAD_UNKNOWN for unknown or malformed upload ids', async () => {
        const name = repo();
        for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', 'ABC']) {
          const path = `/v2/${name}/blobs/uploads/${id}`;
          for (const res of [
            await client.get(path),
            await client.request('PATCH', path, { body: 'x' }),
            await client.request('PUT', `${path}?digest=${sha256('x')}`, { body: 'x' }),
            await client.delete(path),
          ]) {
            expect(res.status).toBe(404);
            expect(errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
          }
        }
      });

      it('cancels an upload with DELETE', async () => {
        const location = await client.startUpload(repo());
        await client.request('PATCH', location, { body: randomBytes(10) });
        expect((await client.delete(location)).status).toBe(204);
        expect((await client.get(location)).status).toBe(404);
        expect((await client.delete(location)).status).toBe(404);
      });

      it('keeps an upload going across a restart (no state in the process)', async () => {
        const made = await factory();
        const data = randomBytes(150_000);
        const name = repo();
        const first = await startTestServer(made.config);
        const one = new Client(first.url);
        const location = await one.startUpload(name);
        await one.request('PATCH', location, { body: data.subarray(0, 50_000), headers: { 'Content-Range': '0-49999' } });
        await first.close();

        const second = await startTestServer(made.config);
        const two = new Client(second.url);
        expect((await two.get(location)).headers.get('range')).toBe('0-49999');
        await two.request('PATCH', location, { body: data.subarray(50_000, 100_000), headers: { 'Content-Range': '50000-99999' } });
        const put = await two.request('PUT', withQuery(location, `digest=${sha256(data)}`), { body: data.subarray(100_000) });
        expect(put.status).toBe(201);
        expect((await two.get(`/v2/${name}/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
        expect(second.logs.some((l) => String(l.msg).includes('re-hashing'))).toBe(true);
        await second.close();
        await made.cleanup();
      });

      it('refuses blobs over the configured limit with 413 and keeps nothing', async () => {
        const made = await factory((config) => {
          config.limits.maxBlobSize = 1000;
        });
        const limited = await startTestServer(made.config);
        const c = new Client(limited.url);
        const name = repo();
        const big = randomBytes(1001);
        const mono = await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(big)}`, { body: big });
        expect(mono.status).toBe(413);
        expect(errorCode(mono)).toBe('SIZE_INVALID');
        const location = await c.startUpload(name);
        expect((await c.request('PATCH', location, { body: big.subarray(0, 600) })).status).toBe(202);
        async function* rest() {
          yield big.subarray(600);
        }
        const over = await c.request('PATCH', location, { body: rest() }).catch(() => undefined);
        if (over) expect(over.status).toBe(413);
        expect((await c.head(`/v2/${name}/blobs/${sha256(big)}`)).status).toBe(404);
        const ok = randomBytes(1000);
        expect((await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(ok)}`, { body: ok })).status).toBe(201);
        await limited.close();
        await made.cleanup();
      });
    });

    describe('blob download', () => {
      let name: string;
      let digest: string;
      const data = Buffer.from('0123456789abcdefghij');

      beforeAll(async () => {
        name = repo();
        digest = await client.pushBlob(name, data);
      });

      it.each([
        ['bytes=0-4', '01234', 'bytes 0-4/20'],
        ['bytes=15-', 'fghij', 'bytes 15-19/20'],
        ['bytes=-3', 'hij', 'bytes 17-19/20'],
        ['bytes=18-100', 'ij', 'bytes 18-19/20'],
      ])('serves Range %s with 206', async (range, body, contentRange) => {
        const res = await client.get(`/v2/${name}/blobs/${digest}`, { Range: range });
        expect(res.status).toBe(206);
        expect(res.body.toString()).toBe(body);
        expect(res.headers.get('content-range')).toBe(contentRange);
        expect(res.headers.get('content-length')).toBe(String(body.length));
      });

      it.each(['bytes=20-', 'bytes=30-40', 'bytes=5-2', 'bytes=abc', 'items=0-1', 'bytes=-0'])('answers 416 to Range %s', async (range) => {
        const res = await client.get(`/v2/${name}/blobs/${digest}`, { Range: range });
        expect(res.status).toBe(416);
        expect(res.headers.get('content-range')).toBe('bytes */20');
      });

      it('serves the whole blob for several ranges', async () => {
        const res = await client.get(`/v2/${name}/blobs/${digest}`, { Range: 'bytes=0-1,5-6' });
        expect(res.status).toBe(200);
        expect(res.body.equals(data)).toBe(true);
      });

      describe('exact bytes across the 1 MiB read buffers', () => {
        const MiB = 1024 * 1024;
        const big = randomBytes(2 * MiB + 3);
        let bigName: string;
        let bigDigest: string;

        beforeAll(async () => {
          bigName = repo();
          bigDigest = await client.pushBlob(bigName, big);
        });

        it('serves the whole blob byte for byte', async () => {
          const res = await client.get(`/v2/${bigName}/blobs/${bigDigest}`);
          expect(res.status).toBe(200);
          expect(res.headers.get('content-length')).toBe(String(big.length));
          expect(sha256(res.body)).toBe(bigDigest);
        });

        it.each([
          ['the first byte', 0, 0],
          ['the last byte', 2 * MiB + 2, 2 * MiB + 2],
          ['across the first buffer boundary', MiB - 5, MiB + 5],
          ['one byte before a boundary', MiB - 1, MiB - 1],
          ['one byte after a boundary', MiB, MiB],
          ['exactly the first buffer', 0, MiB - 1],
          ['exactly the second buffer', MiB, 2 * MiB - 1],
          ['across both boundaries', 7, 2 * MiB + 1],
          ['from inside the last buffer to the end', 2 * MiB + 1, 2 * MiB + 2],
        ])('serves %s', async (_what, start, end) => {
          const res = await client.get(`/v2/${bigName}/blobs/${bigDigest}`, { Range: `bytes=${start}-${end}` });
          expect(res.status).toBe(206);
          expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${big.length}`);
          expect(res.headers.get('content-length')).toBe(String(end - start + 1));
          expect(res.body.equals(big.subarray(start, end + 1))).toBe(true);
        });

        it('serves an open-ended range and a suffix', async () => {
          const open = await client.get(`/v2/${bigName}/blobs/${bigDigest}`, { Range: `bytes=${MiB + 7}-` });
          expect(open.body.equals(big.subarray(MiB + 7))).toBe(true);
          const suffix = await client.get(`/v2/${bigName}/blobs/${bigDigest}`, { Range: 'bytes=-1' });
          expect(suffix.body.equals(big.subarray(big.length - 1))).toBe(true);
        });
      });

      it('answers 304 to a matching If-None-Match', async () => {
        const res = await client.get(`/v2/${name}/blobs/${digest}`, { 'If-None-Match': `"${digest}"` });
        expect(res.status).toBe(304);
        expect(res.body.length).toBe(0);
      });

      it('answers BLOB_UNKNOWN for a blob this repository does not hold', async () => {
        const unknown = await client.get(`/v2/${name}/blobs/${sha256('never pushed')}`);
        expect(unknown.status).toBe(404);
        expect(errorCode(unknown)).toBe('BLOB_UNKNOWN');
        expect(unknown.headers.get('content-type')).toBe('application/json');
        const elsewhere = await client.get(`/v2/${repo()}/blobs/${digest}`);
        expect(elsewhere.status).toBe(404);
        const head = await client.head(`/v2/${name}/blobs/${sha256('never pushed')}`);
        expect(head.status).toBe(404);
        expect(head.body.length).toBe(0);
      });
    });

    describe('blob delete and mount', () => {
      it('deletes a blob from one repository only', async () => {
        const [a, b] = [repo(), repo()];
        const digest = await client.pushBlob(a, 'shared bytes');
        await client.pushBlob(b, 'shared bytes');
        const res = await client.delete(`/v2/${a}/blobs/${digest}`);
        expect(res.status).toBe(202);
        expect((await client.get(`/v2/${a}/blobs/${digest}`)).status).toBe(404);
        expect((await client.get(`/v2/${b}/blobs/${digest}`)).body.toString()).toBe('shared bytes');
        const again = await client.delete(`/v2/${a}/blobs/${digest}`);
        expect(again.status).toBe(404);
        expect(errorCode(again)).toBe('BLOB_UNKNOWN');
      });

      it('mounts from a repository holding the blob with 201', async () => {
        const [from, to] = [repo(), repo()];
        const digest = await client.pushBlob(from, 'mount me');
        const res = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`);
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/v2/${to}/blobs/${digest}`);
        expect(res.headers.get('docker-content-digest')).toBe(digest);
        expect((await client.get(`/v2/${to}/blobs/${digest}`)).body.toString()).toBe('mount me');
      });

      it('starts an upload instead when the source does not hold the blob', async () => {
        const [from, to] = [repo(), repo()];
        await client.pushBlob(from, 'something');
        const res = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=${sha256('other')}&from=${from}`);
        expect(res.status).toBe(202);
        expect(res.headers.get('location')).toMatch(new RegExp(`^/v2/${to}/blobs/uploads/`));
        const bad = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=${sha256('x')}&from=Not_A_Name`);
        expect(errorCode(bad)).toBe('NAME_INVALID');
        const badDigest = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=sha256:zz&from=${from}`);
        expect(errorCode(badDigest)).toBe('DIGEST_INVALID');
      });

      it('mounts without from when the blob is known (automatic mount)', async () => {
        const [from, to] = [repo(), repo()];
        const digest = await client.pushBlob(from, `auto ${randomBytes(4).toString('hex')}`);
        const res = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=${digest}`);
        expect(res.status).toBe(201);
        const unknown = await client.request('POST', `/v2/${to}/blobs/uploads/?mount=${sha256(randomBytes(8))}`);
        expect(unknown.status).toBe(202);
      });

      it('stores a blob pushed to 10 repositories at once as one copy with 10 links', async () => {
        const data = randomBytes(256 * 1024);
        const digest = sha256(data);
        const names = Array.from({ length: 10 }, () => repo('concurrent'));
        const results = await Promise.all(
          names.map(async (name, i) => {
            if (i % 2 === 0) return (await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data })).status;
            const location = await client.startUpload(name);
            await client.request('PATCH', location, { body: data.subarray(0, 100_000) });
            return (await client.request('PUT', withQuery(location, `digest=${digest}`), { body: data.subarray(100_000) })).status;
          }),
        );
        expect(results).toEqual(Array(10).fill(201));
        const driver = server.app.registry.driver;
        const hex = digest.slice(7);
        // Other tests' blobs may share the two-hex folder: look at this blob's entries only.
        expect((await driver.list(`/blobs/sha256/${hex.slice(0, 2)}`)).filter((p) => p.includes(hex))).toEqual([`/blobs/sha256/${hex.slice(0, 2)}/${hex}`]);
        expect(await driver.list(`/blobs/sha256/${hex.slice(0, 2)}/${hex}`)).toEqual([`/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`]);
        for (const name of names) {
          expect((await driver.getContent(`/repositories/${name}/_layers/sha256/${hex}/link`)).toString()).toBe(digest);
          expect((await client.get(`/v2/${name}/blobs/${digest}`)).body.equals(data)).toBe(true);
          await expect(driver.list(`/repositories/${name}/_uploads`)).rejects.toThrow();
        }
      });
    });

    describe('manifests', () => {
      it('stores an image manifest byte for byte, by tag and by digest', async () => {
        const name = repo();
        const { digest, bytes } = await pushImage(name, 'v1');
        for (const reference of ['v1', digest]) {
          const res = await client.get(`/v2/${name}/manifests/${reference}`, { Accept: OCI_MANIFEST });
          expect(res.status).toBe(200);
          expect(res.body.equals(bytes)).toBe(true);
          expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
          expect(res.headers.get('docker-content-digest')).toBe(digest);
          const head = await client.head(`/v2/${name}/manifests/${reference}`);
          expect(head.status).toBe(200);
          expect(head.headers.get('content-length')).toBe(String(bytes.length));
          expect(head.headers.get('docker-content-digest')).toBe(digest);
        }
      });

      it('answers PUT with 201, Location and Docker-Content-Digest, keeping odd formatting', async () => {
        const name = repo();
        const config = await client.pushBlob(name, EMPTY_JSON);
        const text = `{\n\t"schemaVersion": 2,\n\t"mediaType": "${OCI_MANIFEST}",\n\t"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "${config}", "size": 2, "data": "e30=", "newField": null},\n\t"layers": []\n}\n`;
        const res = await client.request('PUT', `/v2/${name}/manifests/latest`, { body: text, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/v2/${name}/manifests/${sha256(text)}`);
        expect(res.headers.get('docker-content-digest')).toBe(sha256(text));
        expect((await client.get(`/v2/${name}/manifests/latest`)).body.toString()).toBe(text);
      });

      it('accepts a manifest without mediaType and serves it as the type it was pushed as', async () => {
        const name = repo();
        const config = await client.pushBlob(name, EMPTY_JSON);
        const manifest = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] };
        await client.pushManifest(name, 'bare', manifest, OCI_MANIFEST);
        expect((await client.get(`/v2/${name}/manifests/bare`)).headers.get('content-type')).toBe(OCI_MANIFEST);
        const index = { schemaVersion: 2, manifests: [] };
        await client.pushManifest(name, 'bare-index', index, OCI_INDEX);
        expect((await client.get(`/v2/${name}/manifests/bare-index`)).headers.get('content-type')).toBe(OCI_INDEX);
      });

      it('stores Docker schema2 manifests and manifest lists', async () => {
        const name = repo();
        const config = Buffer.from('{"architecture":"amd64"}');
        const configDigest = await client.pushBlob(name, config);
        const layer = await client.pushBlob(name, 'layer');
        const manifest = {
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
          layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 5 }],
        };
        const digest = await client.pushManifest(name, 'docker', manifest);
        const bytes = Buffer.from(JSON.stringify(manifest));
        const list = {
          schemaVersion: 2,
          mediaType: DOCKER_LIST,
          manifests: [{ mediaType: DOCKER_MANIFEST, digest, size: bytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
        };
        await client.pushManifest(name, 'list', list);
        expect((await client.get(`/v2/${name}/manifests/docker`)).headers.get('content-type')).toBe(DOCKER_MANIFEST);
        const got = await client.get(`/v2/${name}/manifests/list`, { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` });
        expect(got.headers.get('content-type')).toBe(DOCKER_LIST);
        expect(got.json.manifests[0].digest).toBe(digest);
      });

      it('needs an index’s child manifests in the repository', async () => {
        const name = repo();
        const child = await pushImage(name, 'child');
        const other = await pushImage(repo(), 'elsewhere');
        const index = (digests: string[]) => ({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: digests.map((digest) => ({ mediaType: OCI_MANIFEST, digest, size: 100, platform: { architecture: 'amd64', os: 'linux' } })),
        });
        const missing = await client.request('PUT', `/v2/${name}/manifests/multi`, {
          body: JSON.stringify(index([child.digest, other.digest])),
          headers: { 'Content-Type': OCI_INDEX },
        });
        expect(missing.status).toBe(400);
        expect(errorCode(missing)).toBe('MANIFEST_BLOB_UNKNOWN');
        expect(missing.json.errors[0].detail.digest).toBe(other.digest);
        await client.pushManifest(name, 'multi', index([child.digest]));
      });

      it('needs the config and layers in the repository, except non-distributable layers', async () => {
        const name = repo();
        const config = await client.pushBlob(name, EMPTY_JSON);
        const absent = sha256('absent layer');
        const put = (layers: Record<string, unknown>[]) =>
          client.request('PUT', `/v2/${name}/manifests/t`, {
            body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers }),
            headers: { 'Content-Type': OCI_MANIFEST },
          });
        const missing = await put([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: absent, size: 12 }]);
        expect(missing.status).toBe(400);
        expect(errorCode(missing)).toBe('MANIFEST_BLOB_UNKNOWN');
        expect(missing.json.errors[0].detail.digest).toBe(absent);
        const foreign = await put([
          { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: absent, size: 12, urls: ['https://example.com/layer'] },
        ]);
        expect(foreign.status).toBe(201);
        const noConfig = await client.request('PUT', `/v2/${repo()}/manifests/t`, {
          body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x/y', digest: config, size: 2 }, layers: [] }),
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        expect(errorCode(noConfig)).toBe('MANIFEST_BLOB_UNKNOWN');
      });

      it.each([
        ['not JSON', '{"schemaVersion": 2', OCI_MANIFEST, /JSON/],
        ['not an object', '[1,2]', OCI_MANIFEST, /object/],
        ['schema1', JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws', /schema1/],
        ['wrong schemaVersion', JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST }), OCI_MANIFEST, /schemaVersion/],
        ['no config', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }), OCI_MANIFEST, /config/],
        ['no layers list', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', digest: sha256('{}'), size: 2 } }), OCI_MANIFEST, /layers/],
        ['bad descriptor digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', digest: 'sha256:1', size: 2 }, layers: [] }), OCI_MANIFEST, /digest/],
        ['negative size', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'a/b', digest: sha256('{}'), size: -1 }, layers: [] }), OCI_MANIFEST, /size/],
        ['type mismatch', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST, /does not match/],
        ['unknown type', JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-other', manifests: [] }), 'application/x-other', /unsupported media type/],
        ['manifests not a list', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: {} }), OCI_INDEX, /manifests/],
      ])('refuses an invalid manifest (%s) with MANIFEST_INVALID', async (_why, body, type, message) => {
        const name = repo();
        const res = await client.request('PUT', `/v2/${name}/manifests/bad`, { body, headers: { 'Content-Type': type } });
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('MANIFEST_INVALID');
        expect(res.json.errors[0].message).toMatch(message);
        expect((await client.get(`/v2/${name}/manifests/bad`)).status).toBe(404);
      });

      it('refuses a manifest over 4 MiB with 413', async () => {
        const name = repo();
        const config = await client.pushBlob(name, EMPTY_JSON);
        const huge = JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
          layers: [],
          annotations: { padding: 'x'.repeat(4 * 1024 * 1024) },
        });
        const res = await client.request('PUT', `/v2/${name}/manifests/huge`, { body: huge, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(res.status).toBe(413);
        expect(errorCode(res)).toBe('MANIFEST_INVALID');
        async function* streamed() {
          yield Buffer.from(huge);
        }
        const chunked = await client.request('PUT', `/v2/${name}/manifests/huge`, { body: streamed(), headers: { 'Content-Type': OCI_MANIFEST } });
        expect(chunked.status).toBe(413);
        expect((await client.get(`/v2/${name}/manifests/huge`)).status).toBe(404);
        const fits = JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
          layers: [],
          annotations: { padding: 'x'.repeat(4 * 1024 * 1024 - 400) },
        });
        expect((await client.request('PUT', `/v2/${name}/manifests/fits`, { body: fits, headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(201);
      });

      it('refuses a PUT by digest whose body has another digest', async () => {
        const name = repo();
        const { manifest } = await pushImage(name, 'v1');
        const res = await client.request('PUT', `/v2/${name}/manifests/${sha256('other')}`, {
          body: JSON.stringify(manifest),
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('DIGEST_INVALID');
      });

      it('tags a manifest pushed by digest with ?tag= (one OCI-Tag header per tag)', async () => {
        const name = repo();
        const { manifest } = await pushImage(name, 'first');
        const bytes = JSON.stringify({ ...manifest, annotations: { v: '2' } });
        const res = await client.request('PUT', `/v2/${name}/manifests/${sha256(bytes)}?tag=a&tag=b&tag=c`, {
          body: bytes,
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        expect(res.status).toBe(201);
        expect(res.headers.get('oci-tag')).toBe('a, b, c');
        expect((await client.get(`/v2/${name}/tags/list`)).json.tags).toEqual(['a', 'b', 'c', 'first']);
        const bad = await client.request('PUT', `/v2/${name}/manifests/${sha256(bytes)}?tag=-bad`, { body: bytes, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(bad.status).toBe(400);
        expect(errorCode(bad)).toBe('TAG_INVALID');
      });

      it('refuses an invalid tag on PUT, and finds nothing under one on GET', async () => {
        const name = repo();
        const { manifest } = await pushImage(name, 'v1');
        const long = 'a'.repeat(129);
        for (const tag of ['.hidden', '-dash', long]) {
          const res = await client.request('PUT', `/v2/${name}/manifests/${tag}`, { body: JSON.stringify(manifest), headers: { 'Content-Type': OCI_MANIFEST } });
          expect(res.status).toBe(400);
          expect(errorCode(res)).toBe('TAG_INVALID');
          const get = await client.get(`/v2/${name}/manifests/${tag}`);
          expect(get.status).toBe(404);
          expect(errorCode(get)).toBe('MANIFEST_UNKNOWN');
        }
        expect((await client.head(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`)).status).toBe(404);
        const tag128 = 'a'.repeat(128);
        expect((await client.request('PUT', `/v2/${name}/manifests/${tag128}`, { body: JSON.stringify(manifest), headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(201);
      });

      it('honours Accept', async () => {
        const name = repo();
        await pushImage(name, 'v1');
        expect((await client.get(`/v2/${name}/manifests/v1`, { Accept: DOCKER_MANIFEST })).status).toBe(404);
        expect((await client.get(`/v2/${name}/manifests/v1`, { Accept: `${DOCKER_MANIFEST}, ${OCI_MANIFEST};q=0.9` })).status).toBe(200);
        expect((await client.get(`/v2/${name}/manifests/v1`, { Accept: '*/*' })).status).toBe(200);
        expect((await client.get(`/v2/${name}/manifests/v1`)).status).toBe(200);
      });

      it('answers MANIFEST_UNKNOWN for unknown tags and digests', async () => {
        const name = repo();
        await pushImage(name, 'v1');
        for (const reference of ['nope', sha256('nope')]) {
          const res = await client.get(`/v2/${name}/manifests/${reference}`);
          expect(res.status).toBe(404);
          expect(errorCode(res)).toBe('MANIFEST_UNKNOWN');
        }
        expect((await client.get(`/v2/${name}/manifests/sha256:totallywrong`)).status).toBe(400);
      });

      it('deletes a tag, keeping the manifest', async () => {
        const name = repo();
        const { digest } = await pushImage(name, 'v1');
        await client.pushManifest(name, 'v2', (await client.get(`/v2/${name}/manifests/v1`)).json);
        expect((await client.delete(`/v2/${name}/manifests/v1`)).status).toBe(202);
        expect((await client.get(`/v2/${name}/manifests/v1`)).status).toBe(404);
        expect((await client.get(`/v2/${name}/manifests/${digest}`)).status).toBe(200);
        expect((await client.get(`/v2/${name}/tags/list`)).json.tags).toEqual(['v2']);
        expect((await client.delete(`/v2/${name}/manifests/v1`)).status).toBe(404);
      });

      it('deletes a manifest by digest with every tag naming it', async () => {
        const name = repo();
        const { digest, manifest } = await pushImage(name, 'v1');
        await client.pushManifest(name, 'v1-again', manifest);
        const other = await pushImage(name, 'other');
        expect((await client.delete(`/v2/${name}/manifests/${digest}`)).status).toBe(202);
        expect((await client.get(`/v2/${name}/manifests/${digest}`)).status).toBe(404);
        expect((await client.get(`/v2/${name}/manifests/v1`)).status).toBe(404);
        expect((await client.get(`/v2/${name}/tags/list`)).json.tags).toEqual(['other']);
        expect((await client.get(`/v2/${name}/manifests/${other.digest}`)).status).toBe(200);
        const again = await client.delete(`/v2/${name}/manifests/${digest}`);
        expect(again.status).toBe(404);
        expect(errorCode(again)).toBe('MANIFEST_UNKNOWN');
      });
    });

    describe('referrers', () => {
      it('lists referrers by subject, with artifactType filtering', async () => {
        const name = repo();
        const subject = await pushImage(name, 'subject');
        const empty = await client.pushBlob(name, EMPTY_JSON);
        const sbom = await client.pushBlob(name, 'an sbom');
        const emptyDescriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 };
        const subjectDescriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length };
        const artifact = (artifactType: string, note: string) => ({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType,
          config: emptyDescriptor,
          layers: [{ mediaType: 'text/spdx', digest: sbom, size: 7 }],
          subject: subjectDescriptor,
          annotations: { note },
        });
        const a = artifact('application/spdx+json', 'a');
        const aBytes = JSON.stringify(a);
        const put = await client.request('PUT', `/v2/${name}/manifests/${sha256(aBytes)}`, { body: aBytes, headers: { 'Content-Type': OCI_MANIFEST } });
        expect(put.status).toBe(201);
        expect(put.headers.get('oci-subject')).toBe(subject.digest);
        const bDigest = await client.pushManifest(name, sha256(JSON.stringify(artifact('application/vnd.sig', 'b'))), artifact('application/vnd.sig', 'b'));
        const viaConfig = {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.example.config', digest: sbom, size: 7 },
          layers: [],
          subject: subjectDescriptor,
        };
        const cDigest = await client.pushManifest(name, sha256(JSON.stringify(viaConfig)), viaConfig);
        const index = { schemaVersion: 2, mediaType: OCI_INDEX, artifactType: 'application/vnd.bundle', manifests: [], subject: subjectDescriptor };
        const indexPut = await client.request('PUT', `/v2/${name}/manifests/${sha256(JSON.stringify(index))}`, {
          body: JSON.stringify(index),
          headers: { 'Content-Type': OCI_INDEX },
        });
        expect(indexPut.headers.get('oci-subject')).toBe(subject.digest);

        const all = await client.get(`/v2/${name}/referrers/${subject.digest}`);
        expect(all.status).toBe(200);
        expect(all.headers.get('content-type')).toBe(OCI_INDEX);
        expect(all.headers.get('oci-filters-applied')).toBeNull();
        expect(all.json.schemaVersion).toBe(2);
        expect(all.json.mediaType).toBe(OCI_INDEX);
        const byDigest = Object.fromEntries(all.json.manifests.map((d: { digest: string }) => [d.digest, d]));
        expect(Object.keys(byDigest).sort()).toEqual([sha256(aBytes), bDigest, cDigest, sha256(JSON.stringify(index))].sort());
        expect(byDigest[sha256(aBytes)]).toEqual({
          mediaType: OCI_MANIFEST,
          digest: sha256(aBytes),
          size: Buffer.byteLength(aBytes),
          artifactType: 'application/spdx+json',
          annotations: { note: 'a' },
        });
        expect(byDigest[cDigest].artifactType).toBe('application/vnd.example.config');
        expect(byDigest[cDigest].annotations).toBeUndefined();
        expect(byDigest[sha256(JSON.stringify(index))]).toMatchObject({ mediaType: OCI_INDEX, artifactType: 'application/vnd.bundle' });

        const filtered = await client.get(`/v2/${name}/referrers/${subject.digest}?artifactType=application/vnd.sig`);
        expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
        expect(filtered.json.manifests.map((d: { digest: string }) => d.digest)).toEqual([bDigest]);
        // A `+` in a media type, sent unencoded as clients do, is a `+` (not a space); encoded works too.
        for (const query of ['artifactType=application/spdx+json', 'artifactType=application%2Fspdx%2Bjson']) {
          const spdx = await client.get(`/v2/${name}/referrers/${subject.digest}?${query}`);
          expect(spdx.json.manifests.map((d: { digest: string }) => d.digest)).toEqual([sha256(aBytes)]);
        }

        expect((await client.delete(`/v2/${name}/manifests/${bDigest}`)).status).toBe(202);
        const after = await client.get(`/v2/${name}/referrers/${subject.digest}`);
        expect(after.json.manifests).toHaveLength(3);
      });

      it('accepts a manifest whose subject does not exist, and lists it', async () => {
        const name = repo();
        const empty = await client.pushBlob(name, EMPTY_JSON);
        const dangling = sha256('no such subject');
        const manifest = {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.x',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
          subject: { mediaType: OCI_MANIFEST, digest: dangling, size: 10 },
        };
        const res = await client.request('PUT', `/v2/${name}/manifests/${sha256(JSON.stringify(manifest))}`, {
          body: JSON.stringify(manifest),
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        expect(res.status).toBe(201);
        expect(res.headers.get('oci-subject')).toBe(dangling);
        const list = await client.get(`/v2/${name}/referrers/${dangling}`);
        expect(list.json.manifests.map((d: { digest: string }) => d.digest)).toEqual([sha256(JSON.stringify(manifest))]);
      });

      it('answers an empty index for a subject without referrers, 400 for a bad digest', async () => {
        const res = await client.get(`/v2/${repo()}/referrers/${sha256('nothing')}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe(OCI_INDEX);
        expect(res.json).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
        const bad = await client.get(`/v2/${repo()}/referrers/sha256:bad`);
        expect(bad.status).toBe(400);
        expect(errorCode(bad)).toBe('DIGEST_INVALID');
      });
    });

    describe('tags and catalog', () => {
      let name: string;
      const tags = ['1.0', '1.1', '2.0', 'a', 'latest'];

      beforeAll(async () => {
        name = repo('paged');
        const { manifest } = await pushImage(name, 'latest');
        for (const tag of tags.slice(0, -1).reverse()) await client.pushManifest(name, tag, manifest);
      });

      it('lists tags sorted', async () => {
        const res = await client.get(`/v2/${name}/tags/list`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/json');
        expect(res.json).toEqual({ name, tags });
        expect(res.headers.get('link')).toBeNull();
      });

      it('pages with n and last, linking to the next page', async () => {
        const first = await client.get(`/v2/${name}/tags/list?n=2`);
        expect(first.json.tags).toEqual(['1.0', '1.1']);
        expect(first.headers.get('link')).toBe(`</v2/${name}/tags/list?n=2&last=1.1>; rel="next"`);
        const second = await client.get(`/v2/${name}/tags/list?n=2&last=1.1`);
        expect(second.json.tags).toEqual(['2.0', 'a']);
        const third = await client.get(`/v2/${name}/tags/list?n=2&last=a`);
        expect(third.json.tags).toEqual(['latest']);
        expect(third.headers.get('link')).toBeNull();
      });

      it.each([
        ['n=0', []],
        ['n=5', ['1.0', '1.1', '2.0', 'a', 'latest']],
        ['n=100', ['1.0', '1.1', '2.0', 'a', 'latest']],
        ['last=zzz', []],
        ['last=1.05', ['1.1', '2.0', 'a', 'latest']],
        ['n=1&last=latest', []],
      ])('handles the edge %s', async (query, expected) => {
        const res = await client.get(`/v2/${name}/tags/list?${query}`);
        expect(res.status).toBe(200);
        expect(res.json.tags).toEqual(expected);
        expect(res.headers.get('link')).toBeNull();
      });

      it('refuses a bad n', async () => {
        for (const n of ['-1', 'abc', '1.5']) {
          const res = await client.get(`/v2/${name}/tags/list?n=${n}`);
          expect(res.status).toBe(400);
          expect(errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
        }
      });

      it('answers NAME_UNKNOWN for an unknown repository, and [] when all tags are gone', async () => {
        const res = await client.get(`/v2/${repo()}/tags/list`);
        expect(res.status).toBe(404);
        expect(errorCode(res)).toBe('NAME_UNKNOWN');
        const emptied = repo();
        await pushImage(emptied, 'only');
        await client.delete(`/v2/${emptied}/manifests/only`);
        expect((await client.get(`/v2/${emptied}/tags/list`)).json).toEqual({ name: emptied, tags: [] });
      });

      it('lists nested repositories in the catalog, paged', async () => {
        const made = await factory();
        const fresh = await startTestServer(made.config);
        const c = new Client(fresh.url);
        for (const repository of ['b/app', 'a', 'a/b', 'a-b', 'a/b/c']) await c.pushBlob(repository, 'x');
        await c.startUpload('uploads/only');
        const all = await c.get('/v2/_catalog');
        expect(all.status).toBe(200);
        expect(all.json).toEqual({ repositories: ['a', 'a-b', 'a/b', 'a/b/c', 'b/app'] });
        const page = await c.get('/v2/_catalog?n=2');
        expect(page.json.repositories).toEqual(['a', 'a-b']);
        expect(page.headers.get('link')).toBe('</v2/_catalog?n=2&last=a-b>; rel="next"');
        const next = await c.get('/v2/_catalog?n=2&last=a-b');
        expect(next.json.repositories).toEqual(['a/b', 'a/b/c']);
        expect((await c.get('/v2/_catalog?n=0')).json.repositories).toEqual([]);
        expect((await c.get('/v2/_catalog?last=b/app')).json.repositories).toEqual([]);
        await fresh.close();
        await made.cleanup();
      });
    });
  });
}
