/**
 * HTTPS from an ACME CA, against pebble (Let's Encrypt's test CA) with real validation: pebble's
 * VA connects to Berth's http-01 responder or to its main port for tls-alpn-01. Also: two replicas
 * on one storage order once and serve the same certificate; a short-lived certificate is renewed
 * by one of them.
 */
import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { filesystemConfig } from '../helpers/server.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

interface Replica {
  server: RunningServer;
  logs: Record<string, unknown>[];
  port: number;
}

/** Berth on a fixed port (pebble must know it), logs kept. */
async function startReplica(config: Config): Promise<Replica> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const server = await startServer(config, createLogger('debug', sink));
  return { server, logs, port: server.port };
}

/** The serial of the certificate served for `localhost`, verified against `root`; undefined while none verifies. */
function servedSerial(port: number, root: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: root }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', () => resolve(undefined));
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms: number, why: () => string = () => ''): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${why()}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

describe('HTTPS with certificates from ACME (pebble, real validation)', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean().catch(() => {});
  });

  async function setup(challenge: 'http-01' | 'tls-alpn-01', options: { certificateValiditySeconds?: number; replicas?: number } = {}) {
    const replicas = options.replicas ?? 1;
    const ports = await Promise.all(Array.from({ length: replicas }, async () => ({ main: await freePort(), http: await freePort() })));
    const pebble: Pebble = await startPebble({ httpPort: ports[0]!.http, tlsPort: ports[0]!.main, certificateValiditySeconds: options.certificateValiditySeconds });
    cleanups.push(() => pebble.stop());
    const work = await tempDir('berth-acme-');
    cleanups.push(work.remove);
    const caFile = join(work.path, 'pebble-ca.pem');
    await writeFile(caFile, pebble.caCertificatePem);
    const made = await filesystemConfig();
    cleanups.push(made.cleanup);
    const started: Replica[] = [];
    for (const port of ports) {
      const config: Config = {
        ...made.config,
        listen: `127.0.0.1:${port.main}`,
        tls: {
          ...made.config.tls,
          acme: {
            ...made.config.tls.acme,
            directory: pebble.directoryUrl,
            email: 'ops@example.com',
            domains: ['localhost'],
            challenge,
            httpListen: challenge === 'http-01' ? `127.0.0.1:${port.http}` : '',
            caCertificate: caFile,
            checkSeconds: 1,
          },
        },
      };
      const replica = await startReplica(config);
      cleanups.push(() => replica.server.close());
      started.push(replica);
    }
    const root = await pebble.rootCertificatePem();
    const diagnostics = () => [pebble.output().slice(-3000), ...started.map((r) => JSON.stringify(r.logs.filter((l) => Number(l.level) >= 40).slice(-5)))].join('\n');
    return { pebble, replicas: started, root, diagnostics };
  }

  it('http-01: orders, answers the challenge, serves the certificate; plain HTTP redirects to https', async () => {
    const { replicas, root, diagnostics } = await setup('http-01');
    const [berth] = replicas;
    expect(berth!.server.url).toBe(`https://127.0.0.1:${berth!.port}`);
    const serial = await waitFor('a certificate pebble issued', () => servedSerial(berth!.port, root), 60_000, diagnostics);
    expect(serial).toMatch(/^[0-9A-F]+$/);
    // Real validation: pebble's VA fetched the key authorization from Berth's responder.
    expect(berth!.logs.some((l) => l.msg === 'answered an http-01 validation')).toBe(true);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: berth!.port, path: '/v2/', servername: 'localhost', ca: root }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(berth!.logs.some((l) => l.msg === 'ordering a certificate from ACME')).toBe(true);
    expect(berth!.logs.some((l) => l.msg === 'ACME account registered')).toBe(true);
    const httpListen = berth!.logs.find((l) => String(l.msg).startsWith('ACME http-01 responder'))?.address as string;
    const redirect = await fetch(`http://${httpListen}/v2/_catalog?n=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe(`https://127.0.0.1:${berth!.port}/v2/_catalog?n=1`);
    expect((await fetch(`http://${httpListen}/.well-known/acme-challenge/unknown-token`)).status).toBe(404);
    // Nothing secret in the logs: no private key.
    expect(JSON.stringify(berth!.logs)).not.toContain('PRIVATE KEY');
  });

  it('tls-alpn-01: answers on the main port, ordinary clients unaffected', async () => {
    const { replicas, root, diagnostics } = await setup('tls-alpn-01');
    const [berth] = replicas;
    const serial = await waitFor('a certificate pebble issued', () => servedSerial(berth!.port, root), 60_000, diagnostics);
    expect(serial).toMatch(/^[0-9A-F]+$/);
    expect(berth!.logs.some((l) => l.msg === 'answered a tls-alpn-01 validation' && l.domain === 'localhost')).toBe(true);
    const reply = await new Promise<{ status: number }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: berth!.port, path: '/healthz', servername: 'localhost', ca: root }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      });
      req.on('error', reject);
      req.end();
    });
    expect(reply.status).toBe(200);
    expect(berth!.logs.some((l) => l.msg === 'TLS certificate from ACME in service')).toBe(true);
  });

  it('two replicas on one storage order once and serve the same certificate; one renews it before it expires', async () => {
    const { replicas, root, diagnostics } = await setup('http-01', { replicas: 2, certificateValiditySeconds: 24 });
    const serials = await Promise.all(replicas.map((r) => waitFor('a certificate on every replica', () => servedSerial(r.port, root), 60_000, diagnostics)));
    expect(serials[0]).toBe(serials[1]);
    const orders = () => replicas.flatMap((r) => r.logs.filter((l) => l.msg === 'ordering a certificate from ACME'));
    expect(orders()).toHaveLength(1);
    // 24 s of life, renewed when a third (8 s) is left: a new serial within about 20 s, on both.
    const renewed = await Promise.all(
      replicas.map((r) => waitFor('the renewed certificate', async () => {
        const now = await servedSerial(r.port, root);
        return now !== undefined && now !== serials[0] ? now : undefined;
      }, 45_000, diagnostics)),
    );
    expect(renewed[0]).toBe(renewed[1]);
    const renewals = replicas.flatMap((r) => r.logs.filter((l) => l.msg === 'renewing the ACME certificate' && l.renewing === serials[0]));
    expect(renewals).toHaveLength(1);
    expect(orders()).toHaveLength(1);
  });
});
