/**
 * HTTPS from PEM files (`tls.certificate`, `tls.key`), renewed in place: the files are looked at
 * every `tls.watchSeconds` (fs.watchFile follows the path, so a symlink swap as Kubernetes does
 * for mounted Secrets counts too) and re-read on SIGHUP. A new pair is checked (it parses, the key
 * matches the certificate) before it replaces the old one; the server then hands it to new
 * connections only, so connections already open (a long upload) are never dropped. A bad pair at
 * start stops Berth with a message naming the key; at a reload the old certificate stays and the
 * log says why.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError } from '../config-schema.js';

export interface CertificatePair {
  cert: Buffer;
  key: Buffer;
  /** When the leaf certificate expires. */
  notAfter: Date;
}

/** Checks a PEM chain and key; the message names what is wrong (no key material). */
export function checkPair(cert: Buffer, key: Buffer): CertificatePair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`certificate: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(/mismatch/i.test(message) ? 'key: does not belong to the certificate' : `key: not a usable PEM private key (${message})`);
  }
  return { cert, key, notAfter: new Date(leaf.validTo) };
}

export class CertificateFiles {
  private current?: CertificatePair;
  private readonly changed = (): void => void this.reload('file changed');
  private watching = false;
  private reloading?: Promise<boolean>;

  constructor(
    private readonly certificatePath: string,
    private readonly keyPath: string,
    private readonly watchSeconds: number,
    private readonly log: Logger,
    /** Called with every pair that goes into service (the server's context, metrics). */
    private readonly onPair: (pair: CertificatePair) => void,
  ) {}

  /** Reads the pair at start: a ConfigError naming the key when it is unusable. */
  async load(): Promise<CertificatePair> {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = await readFile(this.certificatePath);
    } catch (err) {
      throw new ConfigError(`config: tls.certificate: cannot read ${this.certificatePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      key = await readFile(this.keyPath);
    } catch (err) {
      throw new ConfigError(`config: tls.key: cannot read ${this.keyPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      this.current = checkPair(cert, key);
    } catch (err) {
      throw new ConfigError(`config: tls.${(err as Error).message} (${this.certificatePath}, ${this.keyPath})`);
    }
    this.onPair(this.current);
    return this.current;
  }

  /** Re-reads the files; true when a new pair went into service. Never throws. */
  reload(reason: string): Promise<boolean> {
    this.reloading ??= this.readAgain(reason).finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async readAgain(reason: string): Promise<boolean> {
    try {
      const [cert, key] = await Promise.all([readFile(this.certificatePath), readFile(this.keyPath)]);
      if (this.current && cert.equals(this.current.cert) && key.equals(this.current.key)) return false;
      const pair = checkPair(cert, key);
      this.current = pair;
      this.onPair(pair);
      this.log.info({ reason, notAfter: pair.notAfter.toISOString() }, 'TLS certificate reloaded');
      return true;
    } catch (err) {
      // Often a renewal half done (the certificate written, the key not yet): the next look retries.
      this.log.warn({ reason, error: (err as Error).message }, 'TLS certificate not reloaded: the old one stays in service');
      return false;
    }
  }

  watch(): void {
    if (this.watching) return;
    this.watching = true;
    for (const path of [this.certificatePath, this.keyPath]) watchFile(path, { interval: this.watchSeconds * 1000, persistent: false }, this.changed);
  }

  stop(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.certificatePath, this.changed);
    unwatchFile(this.keyPath, this.changed);
  }
}
