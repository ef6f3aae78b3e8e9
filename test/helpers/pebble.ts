/**
 * pebble, Let's Encrypt's ACME test CA (Debian package `pebble`, 2.4), for tests of Berth's ACME
 * client: one pebble process per call, on 127.0.0.1 and free ports, with its config and its own
 * HTTPS certificate in a temp folder that `stop()` removes.
 *
 * What a test needs to know:
 * - Validation is real unless `alwaysValid`: pebble's VA resolves the order's domain with the system
 *   resolver (`localhost` comes from /etc/hosts, no pebble-challtestsrv needed) and connects to it on
 *   `httpPort` (HTTP-01: `GET http://DOMAIN:httpPort/.well-known/acme-challenge/TOKEN`) or `tlsPort`
 *   (TLS-ALPN-01: TLS with SNI DOMAIN and ALPN `acme-tls/1`). Those two ports are fixed in pebble's
 *   config, so the test picks them: bind Berth's responders first (port 0), then pass the ports here.
 * - The ACME API is HTTPS with a certificate made here (`caCertificatePem`); an ACME client must
 *   trust it (acme-client: `acme.axios.defaults.httpsAgent = new https.Agent({ ca })`, or
 *   NODE_EXTRA_CA_CERTS for a child process).
 * - What pebble issues chains to a root made fresh on every start: `rootCertificatePem()` (the
 *   management API's /roots/0) is the CA a client needs to verify a certificate Berth serves.
 * - `certificateValiditySeconds` makes short-lived certificates (pebble's `certificateValidityPeriod`),
 *   for renewal tests. pebble silently ignores config keys it does not know, so the start fails if
 *   pebble does not confirm the period in its log.
 * - pebble's random validation delays are off (PEBBLE_VA_NOSLEEP=1). It reuses a valid authorization
 *   for a new order 50% of the time by default; here 0% unless `authzReusePercent` says otherwise, so
 *   that a renewal always goes through a challenge. It rejects 5% of good nonces (badNonce) unless
 *   `nonceRejectPercent` says otherwise; ACME clients must retry those (acme-client does).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

export interface PebbleOptions {
  /** The port pebble's VA connects to for HTTP-01 challenges (on the order's domain). */
  httpPort: number;
  /** The port pebble's VA connects to for TLS-ALPN-01 challenges (on the order's domain). */
  tlsPort: number;
  /** PEBBLE_VA_ALWAYS_VALID=1: every challenge passes without a request to the responder. */
  alwaysValid?: boolean;
  /** How long issued certificates are valid (pebble's default: 5 years). */
  certificateValiditySeconds?: number;
  /** PEBBLE_AUTHZREUSE (default here: 0; pebble's own default: 50). */
  authzReusePercent?: number;
  /** PEBBLE_WFE_NONCEREJECT (default: pebble's, 5). */
  nonceRejectPercent?: number;
  /** How long to wait for the ACME directory to answer (default 15 s). */
  startTimeoutMs?: number;
}

export interface Pebble {
  /** The ACME directory, `https://127.0.0.1:PORT/dir`. */
  directoryUrl: string;
  /** pebble's management API, `https://127.0.0.1:PORT`. */
  managementUrl: string;
  /** The certificate pebble's own HTTPS servers (ACME and management) use: trust it to talk to them. */
  caCertificatePem: string;
  /** The root the issued certificates chain to (fresh on every start); GET /roots/0. */
  rootCertificatePem(): Promise<string>;
  /** The intermediate that signs the issued certificates; GET /intermediates/0. */
  intermediateCertificatePem(): Promise<string>;
  /** Everything pebble wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Stops pebble (SIGTERM, then SIGKILL) and removes its temp folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1 (pebble cannot report ports it chose itself). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

/** GET over HTTPS trusting only `ca`; resolves with status and body. */
function httpsGet(url: string, ca: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca, timeout: timeoutMs, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost, for pebble's own HTTPS listeners. */
async function makeServerCertificate(dir: string): Promise<{ certFile: string; keyFile: string; pem: string }> {
  const certFile = join(dir, 'pebble-cert.pem');
  const keyFile = join(dir, 'pebble-key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=pebble test server',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') };
}

/**
 * Runs pebble under `sh` so that pebble ends with this process, however this process ends (a test
 * runner killed mid-run included): the wrapper watches its stdin, a pipe from here, and when that
 * closes (stop(), or this process gone) it stops pebble and removes the temp folder ($2). When pebble
 * exits by itself (a port taken), the wrapper exits with pebble's status and leaves the folder.
 * The wrapper's own output goes to /dev/null once pebble runs: with this process gone, sh's
 * "Terminated" note on a closed pipe would kill it (SIGPIPE) before it removes the folder.
 * `-strict=false`: pebble's advice for client integration tests (no previews of breaking changes).
 */
const WRAPPER = `
exec 3<&0 </dev/null
pebble -config "$1" -strict=false &
pebble=$!
{ while read -r _; do :; done <&3; : >"$2/stopping"; kill "$pebble" 2>/dev/null; } &
watcher=$!
exec 3<&- >/dev/null 2>&1
wait "$pebble"; status=$?
if [ -e "$2/stopping" ]; then rm -rf "$2"; else kill "$watcher" 2>/dev/null; fi
exit "$status"
`;

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await tempDir('berth-pebble-');
  try {
    const certificate = await makeServerCertificate(dir.path);
    // Ports are chosen here and then bound by pebble, so another process may take one in between:
    // pebble then exits with "address already in use" and the start is tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch(options, dir, certificate);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof PortInUseError)) throw err;
      }
    }
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

class PortInUseError extends Error {}

async function launch(
  options: PebbleOptions,
  dir: { path: string; remove: () => Promise<void> },
  certificate: { certFile: string; keyFile: string; pem: string },
): Promise<Pebble> {
  const acmePort = await freePort();
  let managementPort = await freePort();
  while (managementPort === acmePort) managementPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certificate.certFile,
      privateKey: certificate.keyFile,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.certificateValiditySeconds !== undefined ? { certificateValidityPeriod: options.certificateValiditySeconds } : {}),
    },
  };
  const configFile = join(dir.path, 'pebble-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
  };
  if (options.alwaysValid) env.PEBBLE_VA_ALWAYS_VALID = '1';
  if (options.nonceRejectPercent !== undefined) env.PEBBLE_WFE_NONCEREJECT = String(options.nonceRejectPercent);

  const child = spawn('sh', ['-c', WRAPPER, 'pebble-wrapper', configFile, dir.path], {
    cwd: dir.path,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // its own process group, so that a stuck stop() can end pebble and the wrapper together
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  child.stdin?.on('error', () => {}); // EPIPE when the wrapper is already gone
  const gone = exited(child);
  // A test that never calls stop() must not keep the test process alive; the wrapper still ends
  // pebble when this process exits.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref();

  const end = async (): Promise<void> => {
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await gone;
      clearTimeout(timer);
    }
  };

  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await end();
      await dir.remove();
    })());

  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  try {
    for (;;) {
      if (spawnError) throw new Error(`pebble's wrapper (sh) could not be started: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        if (/address already in use/.test(output)) throw new PortInUseError(output);
        if (child.exitCode === 127) throw new Error(`pebble is not installed (apt-get install -y pebble):\n${output}`);
        throw new Error(`pebble exited (${child.exitCode ?? child.signalCode}) before it answered:\n${output}`);
      }
      // Raced with pebble's exit: when the port was taken, whatever holds it may never answer.
      const answer = await Promise.race([httpsGet(directoryUrl, certificate.pem, 1000).catch(() => undefined), gone.then(() => undefined)]);
      if (answer?.status === 200 && /"newOrder"/.test(answer.body)) break;
      if (Date.now() > deadline) throw new Error(`pebble's directory ${directoryUrl} did not answer in time:\n${output}`);
      await sleep(50);
    }
    const period = options.certificateValiditySeconds;
    if (period !== undefined && !output.includes(`Using certificate validity period of ${period} seconds`)) {
      throw new Error(`this pebble does not support certificateValidityPeriod (${period} s requested):\n${output}`);
    }
  } catch (err) {
    // The temp folder stays for the caller (startPebble removes it, or a retry reuses it).
    await end();
    throw err;
  }

  const fetchPem = async (path: string): Promise<string> => {
    const answer = await httpsGet(`${managementUrl}${path}`, certificate.pem);
    if (answer.status !== 200 || !answer.body.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error(`pebble GET ${path}: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
    return answer.body;
  };

  return {
    directoryUrl,
    managementUrl,
    caCertificatePem: certificate.pem,
    rootCertificatePem: () => fetchPem('/roots/0'),
    intermediateCertificatePem: () => fetchPem('/intermediates/0'),
    output: () => output,
    stop,
  };
}
