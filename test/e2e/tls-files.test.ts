/**
 * HTTPS from certificate files, with real clients verifying TLS (skopeo and podman with
 * `--cert-dir` holding the test CA), a client that does not trust the CA refused, and a
 * certificate renewed in place while a long upload is in flight.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { issueCertificate, makeCa, type TestCa, type TestCertificate } from '../helpers/tls.js';
import { tempDir } from '../helpers/tmp.js';

/** The serial of the certificate a fresh TLS connection is served. */
function servedSerial(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('HTTPS from certificate files', { timeout: 180_000 }, () => {
  let work: { path: string; remove: () => Promise<void> };
  let ca: TestCa;
  let first: TestCertificate;
  let second: TestCertificate;
  let certDir: string;
  let live: { certificate: string; key: string };
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let layout: TestLayout;
  let storage: string[];

  beforeAll(async () => {
    work = await tempDir('berth-tls-');
    ca = await makeCa(work.path);
    first = await issueCertificate(ca, 'first');
    second = await issueCertificate(ca, 'second');
    certDir = join(work.path, 'certs.d');
    await mkdir(certDir);
    await copyFile(ca.certificate, join(certDir, 'ca.crt'));
    live = { certificate: join(work.path, 'live.crt'), key: join(work.path, 'live.key') };
    await copyFile(first.certificate, live.certificate);
    await copyFile(first.key, live.key);
    const made = await filesystemConfig((c) => {
      c.tls = { ...c.tls, certificate: live.certificate, key: live.key, watchSeconds: 1 };
    });
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    layout = await makeTestLayout(work.path);
    storage = ['--storage-driver', 'vfs', '--root', join(work.path, 'storage'), '--runroot', join(work.path, 'run')];
  });

  afterAll(async () => {
    await run('podman', [...storage, 'rmi', '--all', '--force']).catch(() => {});
    await server?.close();
    await cleanup?.();
    await work?.remove();
  });

  it('serves HTTPS: skopeo and podman verify it with the CA in --cert-dir', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ref = `docker://localhost:${server.port}/demo/app:v1`;
    await run('skopeo', ['copy', '--dest-cert-dir', certDir, `oci:${layout.dir}:test`, ref]);
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--cert-dir', certDir, ref])).stdout) as { Digest: string };
    expect(inspected.Digest).toBe(await layout.digestOf('test'));
    await run('podman', [...storage, 'pull', '--cert-dir', certDir, `localhost:${server.port}/demo/app:v1`]);
    const images = (await run('podman', [...storage, 'images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout;
    expect(images).toContain(`localhost:${server.port}/demo/app:v1`);
  });

  it('is refused by a client that does not trust the CA', async () => {
    await expect(run('skopeo', ['inspect', '--cert-dir', join(work.path, 'empty'), `docker://localhost:${server.port}/demo/app:v1`])).rejects.toThrow(
      /x509|certificate/,
    );
    const health = await fetch(`${server.url}/healthz`).then(
      () => 'answered',
      (err: Error) => String((err.cause as Error | undefined)?.message ?? err.message),
    );
    expect(health).toMatch(/certificate/i);
  });

  it('renews in place while a long upload is in flight: the upload finishes, the next connection gets the new certificate', async () => {
    expect(await servedSerial(server.port, ca.pem)).toBe(first.serial);
    const start = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(`${server.url}/v2/demo/big/blobs/uploads/`, { method: 'POST', ca: ca.pem, agent: false }, (res) => {
        res.resume();
        resolve(String(res.headers.location));
      });
      req.on('error', reject);
      req.end();
    });
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let status = 0;
    const upload = httpsRequest(`${server.url}${start}`, { method: 'PATCH', ca: ca.pem, agent: false, headers: { 'Content-Type': 'application/octet-stream' } });
    const answered = new Promise<void>((resolve, reject) => {
      upload.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
        res.on('end', resolve);
      });
      upload.on('error', reject);
    });
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        upload.write(chunk);
        hash.update(chunk);
      }
    };
    send(4);
    // Renew in place (as certbot or cert-manager would); the watcher notices within a second or two.
    await copyFile(second.key, live.key);
    await copyFile(second.certificate, live.certificate);
    await waitFor('the reload', () => server.logs.find((l) => l.msg === 'TLS certificate reloaded'));
    expect(await servedSerial(server.port, ca.pem)).toBe(second.serial);
    send(4); // the old connection still works, on its old certificate
    upload.end();
    await answered;
    expect(status).toBe(202);
    const done = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${server.url}${start}?digest=sha256:${hash.digest('hex')}`, { method: 'PUT', ca: ca.pem, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(done).toBe(201);
  });

  it('keeps the old certificate when a reload finds a bad file, and says why', async () => {
    const before = await servedSerial(server.port, ca.pem);
    await writeFile(live.certificate, 'not a certificate');
    expect(await server.reload()).toBe(false);
    expect(server.logs.some((l) => l.msg === 'TLS certificate not reloaded: the old one stays in service' && String(l.error).startsWith('certificate: not a PEM certificate'))).toBe(true);
    expect(await servedSerial(server.port, ca.pem)).toBe(before);
    // A key that is not the certificate's: refused too.
    await copyFile(first.certificate, live.certificate);
    await copyFile(second.key, live.key);
    expect(await server.reload()).toBe(false);
    expect(server.logs.some((l) => l.error === 'key: does not belong to the certificate')).toBe(true);
    expect(await servedSerial(server.port, ca.pem)).toBe(before);
    await copyFile(first.key, live.key);
    expect(await server.reload()).toBe(true);
    expect(await servedSerial(server.port, ca.pem)).toBe(first.serial);
  });

  it('re-reads the files on SIGHUP (berth serve)', async () => {
    const dir = join(work.path, 'sighup');
    await mkdir(dir);
    const files = { certificate: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
    await copyFile(first.certificate, files.certificate);
    await copyFile(first.key, files.key);
    const config = join(dir, 'berth.yaml');
    // A long watch interval: only the signal can explain a quick reload.
    await writeFile(config, `listen: 127.0.0.1:0\nstorage: { filesystem: { root: ./data } }\ntls: { certificate: tls.crt, key: tls.key, watchSeconds: 3600 }\n`);
    const cli = join(import.meta.dirname, '../../dist/src/cli.js');
    const child = spawn(process.execPath, [cli, 'serve', '--config', config], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout! });
      let port = 0;
      for await (const line of lines) {
        const entry = JSON.parse(line) as { msg: string; url?: string };
        if (entry.msg === 'listening') {
          expect(entry.url).toMatch(/^https:/);
          port = Number(new URL(entry.url!).port);
          break;
        }
      }
      expect(await servedSerial(port, ca.pem)).toBe(first.serial);
      await copyFile(second.key, files.key);
      await copyFile(second.certificate, files.certificate);
      child.kill('SIGHUP');
      await waitFor('the new certificate after SIGHUP', async () => ((await servedSerial(port, ca.pem)) === second.serial ? true : undefined), 10_000);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('stops at start with a message naming the key when a file is bad', async () => {
    const start = async (certificate: string, key: string) => {
      const made = await filesystemConfig((c) => (c.tls = { ...c.tls, certificate, key }));
      try {
        const s = await startTestServer(made.config);
        await s.close();
        return 'started';
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      } finally {
        await made.cleanup();
      }
    };
    expect(await start(join(work.path, 'missing.crt'), first.key)).toBe(`config: tls.certificate: cannot read ${join(work.path, 'missing.crt')}: ENOENT`);
    expect(await start(first.certificate, join(work.path, 'missing.key'))).toBe(`config: tls.key: cannot read ${join(work.path, 'missing.key')}: ENOENT`);
    expect(await start(first.certificate, second.key)).toMatch(/^config: tls\.key: does not belong to the certificate/);
    expect(await start(first.key, first.key)).toMatch(/^config: tls\.certificate: not a PEM certificate/);
  });
});
