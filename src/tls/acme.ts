/**
 * HTTPS with certificates from an ACME CA (Let's Encrypt, or any RFC 8555 server), via the npm
 * `acme-client` library. On start, and every `tls.acme.checkSeconds`:
 *
 *   certificate in storage? -> serve it (a replica picks up what another ordered)
 *   none, or less than `renewWhenLeft`% of its life left -> claim the order (acme-store.ts); the
 *   winner registers or reuses the account, orders, answers the challenges, stores and serves the
 *   new certificate; the others keep serving the old one and find the new one at a later check.
 *
 * Challenges are answered by whichever replica the CA reaches: key authorizations and challenge
 * certificates go to storage as well as memory.
 * - http-01: a plain HTTP listener on `tls.acme.httpListen` answers
 *   `/.well-known/acme-challenge/<token>` and redirects everything else to https.
 * - tls-alpn-01: on the main port, connections whose ClientHello offers only `acme-tls/1` are
 *   handed to a TLS server that presents the challenge certificate (client-hello.ts reads the
 *   offer before TLS starts); all others go to the HTTPS server as usual.
 * Until the first certificate is there, HTTPS handshakes fail (no certificate to present).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, type SecureContext, Server as TlsServer } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import type { Logger } from 'pino';
import { ConfigError } from '../config-schema.js';
import { parseListen } from '../config.js';
import { hostPort, listenOn } from '../util/index.js';
import { AcmeStore, type StoredCertificate } from './acme-store.js';
import { alpnProtocols, peekFirstRecord } from './client-hello.js';
import type { TlsConfig } from './config.js';
import type { CertificatePair } from './files.js';
import type { Listener, ListenerDeps } from './index.js';

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const CHALLENGE_PATH = '/.well-known/acme-challenge/';
const ACME_TLS = 'acme-tls/1';

/** Whether the certificate should be renewed now: less than `percentLeft` of its life remains. */
export function needsRenewal(certificate: Pick<StoredCertificate, 'notBefore' | 'notAfter'>, percentLeft: number, now = Date.now()): boolean {
  const start = Date.parse(certificate.notBefore);
  const end = Date.parse(certificate.notAfter);
  return end - now < ((end - start) * percentLeft) / 100;
}

function describeError(err: unknown): string {
  const e = err as Error & { cause?: Error; response?: { status?: number; data?: { detail?: string } } };
  const detail = e.response?.data?.detail;
  return [e.message, detail, e.cause?.message].filter(Boolean).join(': ');
}

export async function createAcmeListener(tls: TlsConfig, handler: RequestListener, deps: ListenerDeps): Promise<Listener> {
  const settings = tls.acme;
  const { log } = deps;
  const store = new AcmeStore(deps.driver, settings.domains);
  const replica = `${process.pid}-${randomBytes(4).toString('hex')}`;
  if (settings.caCertificate) {
    let ca: Buffer;
    try {
      ca = readFileSync(settings.caCertificate);
    } catch (err) {
      throw new ConfigError(`config: tls.acme.caCertificate: cannot read ${settings.caCertificate}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // acme-client talks through one module-wide axios instance: the trust applies to every ACME
    // client in this process (there is one).
    acme.axios.defaults.httpsAgent = new Agent({ ca });
  }

  // Challenges this process answers, also read from storage for those another replica started.
  const httpTokens = new Map<string, string>();
  const alpnContexts = new Map<string, SecureContext>();

  const server = createHttpsServer({ ...deps.serverOptions }, handler) as unknown as Server & TlsServer;
  let current: StoredCertificate | undefined;
  const serve = (certificate: StoredCertificate): void => {
    if (current?.serial === certificate.serial) return;
    server.setSecureContext({ key: certificate.key, cert: certificate.chain });
    current = certificate;
    const pair: CertificatePair = { cert: Buffer.from(certificate.chain), key: Buffer.from(certificate.key), notAfter: new Date(certificate.notAfter) };
    deps.onCertificate?.(pair);
    log.info({ domains: certificate.domains, serial: certificate.serial, notAfter: certificate.notAfter }, 'TLS certificate from ACME in service');
  };

  if (settings.challenge === 'tls-alpn-01') {
    const challengeServer = new TlsServer({
      ALPNProtocols: [ACME_TLS],
      SNICallback: (name, callback) => {
        const known = alpnContexts.get(name);
        if (known) return callback(null, known);
        store.alpnCertificate(name).then(
          (pair) => callback(pair ? null : new Error(`no tls-alpn-01 challenge for ${name}`), pair ? createSecureContext(pair) : undefined),
          (err: Error) => callback(err),
        );
      },
    });
    challengeServer.on('secureConnection', (socket) => {
      log.info({ domain: socket.servername }, 'answered a tls-alpn-01 validation');
      socket.end();
    });
    challengeServer.on('tlsClientError', () => {});
    // Look at each connection's ClientHello before TLS starts.
    const [tlsListener] = server.listeners('connection') as Array<(socket: Socket) => void>;
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      socket.on('error', () => {});
      void peekFirstRecord(socket).then((record) => {
        if (!record) return;
        const offered = alpnProtocols(record);
        if (offered.length === 1 && offered[0] === ACME_TLS) challengeServer.emit('connection', socket);
        else tlsListener!.call(server, socket);
      });
    });
  }

  const responder = settings.challenge === 'http-01' && settings.httpListen !== '' ? createHttpServer() : undefined;
  let mainPort = 443;
  responder?.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith(CHALLENGE_PATH) && (req.method === 'GET' || req.method === 'HEAD')) {
      const token = path.slice(CHALLENGE_PATH.length);
      const known = TOKEN.test(token) ? httpTokens.get(token) : undefined;
      const lookup = known !== undefined || !TOKEN.test(token) ? Promise.resolve(known) : store.httpKeyAuthorization(token);
      lookup.then(
        (keyAuthorization) => {
          if (keyAuthorization === undefined) {
            res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such challenge\n');
            return;
          }
          log.info({ token: `${token.slice(0, 8)}...`, from: req.socket.remoteAddress }, 'answered an http-01 validation');
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end(keyAuthorization);
        },
        () => res.writeHead(503, { 'Content-Type': 'text/plain' }).end('storage unavailable\n'),
      );
      return;
    }
    // Everything else: the same place over https.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const target = /^[A-Za-z0-9.-]{1,253}$/.test(host) ? host : settings.domains[0]!;
    res.writeHead(308, { Location: `https://${target}${mainPort === 443 ? '' : `:${mainPort}`}${req.url ?? '/'}` }).end();
  });
  responder?.on('clientError', (_err, socket) => socket.destroy());

  async function accountClient(): Promise<acme.Client> {
    const stored = await store.account(settings.directory);
    const options = { directoryUrl: settings.directory, backoffMin: 200, backoffMax: 5000 };
    if (stored) {
      const client = new acme.Client({ ...options, accountKey: stored.key, accountUrl: stored.url });
      try {
        await client.createAccount({ onlyReturnExisting: true });
        return client;
      } catch (err) {
        log.warn({ error: describeError(err) }, 'the stored ACME account is unknown to the CA: registering a new one');
      }
    }
    const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
    const client = new acme.Client({ ...options, accountKey: key });
    await client.createAccount({ termsOfServiceAgreed: true, ...(settings.email ? { contact: [`mailto:${settings.email}`] } : {}) });
    await store.saveAccount({ directory: settings.directory, key, url: client.getAccountUrl() });
    log.info({ directory: settings.directory }, 'ACME account registered');
    return client;
  }

  async function order(): Promise<StoredCertificate> {
    const client = await accountClient();
    const created = await client.createOrder({ identifiers: settings.domains.map((value) => ({ type: 'dns', value })) });
    for (const authz of await client.getAuthorizations(created)) {
      if (authz.status === 'valid') continue; // the CA remembers an earlier validation
      const challenge = authz.challenges.find((c) => c.type === settings.challenge);
      if (!challenge) throw new Error(`the CA offers no ${settings.challenge} challenge for ${authz.identifier.value}`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      const domain = authz.identifier.value;
      const token = (challenge as { token: string }).token;
      try {
        if (settings.challenge === 'http-01') {
          httpTokens.set(token, keyAuthorization);
          await store.publishHttp(token, keyAuthorization);
        } else {
          const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
          alpnContexts.set(domain, createSecureContext({ key, cert }));
          await store.publishAlpn(domain, { key: key.toString(), cert: cert.toString() });
        }
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } finally {
        httpTokens.delete(token);
        alpnContexts.delete(domain);
        await store.unpublish(settings.challenge, settings.challenge === 'http-01' ? token : domain);
      }
    }
    await client.waitForValidStatus(created);
    const [key, csr] = await acme.crypto.createCsr({ commonName: settings.domains[0], altNames: settings.domains }, await acme.crypto.createPrivateEcdsaKey());
    const finalized = await client.finalizeOrder(created, csr);
    const chain = await client.getCertificate(finalized);
    const leaf = new X509Certificate(chain);
    return {
      key: key.toString(),
      chain,
      domains: settings.domains,
      serial: leaf.serialNumber,
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
    };
  }

  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let stopped = false;

  async function check(): Promise<void> {
    const stored = await store.certificate();
    if (stored) serve(stored);
    if (stored && !needsRenewal(stored, settings.renewWhenLeft)) return;
    const claim = await store.claim(stored?.serial ?? 'none', replica);
    if (!claim) return; // another replica orders it; a later check finds the result
    log.info({ domains: settings.domains, challenge: settings.challenge, renewing: stored?.serial }, stored ? 'renewing the ACME certificate' : 'ordering a certificate from ACME');
    try {
      const certificate = await order();
      await store.saveCertificate(certificate);
      serve(certificate);
    } catch (err) {
      log.error({ error: describeError(err), directory: settings.directory }, 'ACME order failed; the next check tries again');
      await store.failed(claim, replica).catch(() => {});
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      checking = check()
        .catch((err: unknown) => log.warn({ error: describeError(err) }, 'ACME certificate check failed'))
        .finally(() => schedule());
    }, settings.checkSeconds * 1000);
    timer.unref();
  }

  return {
    server,
    protocol: 'https',
    reload: async () => false,
    async start() {
      mainPort = (server.address() as AddressInfo | null)?.port ?? 443;
      if (responder) {
        const { host, port } = parseListen(settings.httpListen);
        const address = await listenOn(responder, host, port);
        log.info({ address: hostPort(address) }, 'ACME http-01 responder listening (and redirecting to https)');
      }
      checking = check()
        .catch((err: unknown) => log.warn({ error: describeError(err) }, 'ACME certificate check failed'))
        .finally(() => schedule());
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // An order under way is left to itself after a moment: a slow CA must not hold a shutdown.
      await Promise.race([checking, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      if (responder?.listening) {
        responder.closeAllConnections();
        await new Promise<void>((resolve) => responder.close(() => resolve()));
      }
    },
  };
}
