/**
 * What ACME keeps in Berth's storage, so that every replica serves the same certificate and only
 * one orders it:
 *
 *   /_berth/acme/account.json                          the account key and URL (per directory)
 *   /_berth/acme/certificates/<name>/certificate.json  the key and chain in service
 *   /_berth/acme/claims/<name>/<generation>/<attempt>  who orders the next certificate
 *   /_berth/acme/http-01/<token>                       key authorizations while a challenge runs
 *   /_berth/acme/tls-alpn-01/<domain>.json             challenge certificates while one runs
 *
 * `<name>` comes from the domains; `<generation>` is the serial of the certificate being replaced
 * (`none` for the first). A claim is `putContentIfAbsent`: one replica wins an attempt. Its owner
 * marks it `failed` when the order fails, and a claim left unfinished for STALE_MS (its replica
 * died) is given up; either way the next attempt is a new path, so no claim is ever deleted and
 * two replicas never both win.
 */
import { createHash } from 'node:crypto';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';

const ROOT = '/_berth/acme';
export const STALE_MS = 10 * 60_000;

export interface StoredCertificate {
  /** PEM private key and full chain. */
  key: string;
  chain: string;
  domains: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
}

export interface StoredAccount {
  directory: string;
  key: string;
  url: string;
}

interface Claim {
  replica: string;
  at: string;
  failed?: boolean;
}

/** A path-safe name for a set of domains: the first, and a hash of all. */
export function certificateName(domains: string[]): string {
  const hash = createHash('sha256').update([...domains].sort().join(',')).digest('hex').slice(0, 12);
  return `${domains[0]!.replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 100)}-${hash}`;
}

async function readJson<T>(driver: StorageDriver, path: string): Promise<T | undefined> {
  try {
    return JSON.parse((await driver.getContent(path)).toString('utf8')) as T;
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    if (err instanceof SyntaxError) return undefined; // half a file from a crashed writer: as if absent
    throw err;
  }
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

export class AcmeStore {
  readonly name: string;

  constructor(
    private readonly driver: StorageDriver,
    domains: string[],
  ) {
    this.name = certificateName(domains);
  }

  certificate(): Promise<StoredCertificate | undefined> {
    return readJson(this.driver, `${ROOT}/certificates/${this.name}/certificate.json`);
  }

  saveCertificate(certificate: StoredCertificate): Promise<void> {
    return this.driver.putContent(`${ROOT}/certificates/${this.name}/certificate.json`, json(certificate));
  }

  async account(directory: string): Promise<StoredAccount | undefined> {
    const account = await readJson<StoredAccount>(this.driver, `${ROOT}/account.json`);
    return account?.directory === directory ? account : undefined;
  }

  saveAccount(account: StoredAccount): Promise<void> {
    return this.driver.putContent(`${ROOT}/account.json`, json(account));
  }

  /** Tries to become the replica that orders the certificate after `generation`; the claim's path, or undefined. */
  async claim(generation: string, replica: string, now = Date.now()): Promise<string | undefined> {
    const folder = `${ROOT}/claims/${this.name}/${generation.replace(/[^A-Za-z0-9]/g, '').slice(0, 80) || 'none'}`;
    let attempts: number[] = [];
    try {
      attempts = (await this.driver.list(folder)).map((p) => Number(p.slice(p.lastIndexOf('/') + 1))).filter(Number.isSafeInteger);
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
    }
    let next = 0;
    if (attempts.length > 0) {
      const last = Math.max(...attempts);
      const claim = await readJson<Claim>(this.driver, `${folder}/${last}`);
      const over = !claim || claim.failed || now - Date.parse(claim.at) > STALE_MS;
      if (!over) return undefined; // someone is ordering it now
      next = last + 1;
    }
    const path = `${folder}/${next}`;
    return (await this.driver.putContentIfAbsent(path, json({ replica, at: new Date(now).toISOString() } satisfies Claim))) ? path : undefined;
  }

  async failed(claim: string, replica: string): Promise<void> {
    await this.driver.putContent(claim, json({ replica, at: new Date().toISOString(), failed: true } satisfies Claim));
  }

  publishHttp(token: string, keyAuthorization: string): Promise<void> {
    return this.driver.putContent(`${ROOT}/http-01/${token}`, Buffer.from(keyAuthorization));
  }

  async httpKeyAuthorization(token: string): Promise<string | undefined> {
    try {
      return (await this.driver.getContent(`${ROOT}/http-01/${token}`)).toString('utf8');
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  publishAlpn(domain: string, pair: { key: string; cert: string }): Promise<void> {
    return this.driver.putContent(`${ROOT}/tls-alpn-01/${domain}.json`, json(pair));
  }

  alpnCertificate(domain: string): Promise<{ key: string; cert: string } | undefined> {
    return readJson(this.driver, `${ROOT}/tls-alpn-01/${domain}.json`);
  }

  async unpublish(kind: 'http-01' | 'tls-alpn-01', name: string): Promise<void> {
    await this.driver.delete(`${ROOT}/${kind}/${kind === 'tls-alpn-01' ? `${name}.json` : name}`).catch(() => {});
  }
}
