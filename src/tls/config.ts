/**
 * The `tls:` section of the config: HTTPS on `listen` from PEM files, or from an ACME CA (Let's
 * Encrypt). Its schema (checked by src/config.ts with every other key), its type, and the checks
 * across its keys.
 */
import { ConfigError, type Field } from '../config-schema.js';

export interface AcmeConfig {
  /** The ACME directory URL; empty: no ACME. */
  directory: string;
  /** The account's contact address (expiry notices from the CA). */
  email: string;
  /** The names the certificate is for. */
  domains: string[];
  challenge: 'http-01' | 'tls-alpn-01';
  /** HOST:PORT of the HTTP-01 responder (which also redirects everything else to https). */
  httpListen: string;
  /** A PEM file to trust for the ACME server itself (a private ACME CA); empty: the system's CAs. */
  caCertificate: string;
  /** Renew when this percentage of the certificate's life is left (a third, as Let's Encrypt advises). */
  renewWhenLeft: number;
  /** How often each replica looks at the certificate in storage (renewal due? another replica's new one?). */
  checkSeconds: number;
}

export interface TlsConfig {
  /** PEM certificate chain; with `key`: HTTPS on `listen`. */
  certificate: string;
  key: string;
  /** How often the files are looked at for a renewal in place (seconds); SIGHUP reloads at once. */
  watchSeconds: number;
  acme: AcmeConfig;
}

const LISTEN = /^(|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/;
const LABEL = /^[A-Za-z0-9-]{1,63}$/;

function isDomain(name: string): boolean {
  if (name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label) && !label.startsWith('-') && !label.endsWith('-'));
}

function checkDomains(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || !value.every((d) => typeof d === 'string')) throw new ConfigError(`${key}: must be a list of domain names`);
  for (const domain of value as string[]) {
    if (domain.startsWith('*.')) throw new ConfigError(`${key}: ${domain} is a wildcard; wildcard certificates need the dns-01 challenge, which Berth does not answer`);
    if (!isDomain(domain)) throw new ConfigError(`${key}: ${JSON.stringify(domain.slice(0, 300))} is not a domain name`);
  }
  return value as string[];
}

export const TLS_SCHEMA: Field = {
  kind: 'object',
  fields: {
    certificate: { kind: 'path', default: '', optional: true },
    key: { kind: 'path', default: '', optional: true },
    watchSeconds: { kind: 'integer', default: 10, min: 1, max: 86_400 },
    acme: {
      kind: 'object',
      fields: {
        directory: { kind: 'string', default: '', pattern: /^(|https?:\/\/\S{1,2000})$/, hint: 'must be the URL of an ACME directory, or empty' },
        email: { kind: 'string', default: '', pattern: /^(|[^\s@]{1,200}@[^\s@]{1,200})$/, hint: 'must be an email address or empty' },
        domains: { kind: 'custom', default: [], check: checkDomains },
        challenge: { kind: 'enum', default: 'http-01', values: ['http-01', 'tls-alpn-01'] },
        httpListen: { kind: 'string', default: '', pattern: LISTEN, hint: 'must be HOST:PORT, for example 0.0.0.0:80, or empty' },
        caCertificate: { kind: 'path', default: '', optional: true },
        renewWhenLeft: { kind: 'integer', default: 33, min: 1, max: 90 },
        checkSeconds: { kind: 'integer', default: 600, min: 1, max: 86_400 },
      },
    },
  },
};

/** Whether the main listener serves HTTPS. */
export function tlsEnabled(config: TlsConfig): boolean {
  return config.certificate !== '' || config.acme.directory !== '';
}

/** Checks across keys (the schema checks one key at a time). */
export function checkTlsConfig(config: TlsConfig): void {
  if ((config.certificate === '') !== (config.key === '')) throw new ConfigError('tls.certificate and tls.key: give both (HTTPS from files) or neither');
  const acme = config.acme;
  if (acme.directory === '') return;
  if (config.certificate !== '') throw new ConfigError('tls.acme.directory: choose certificates from files (tls.certificate, tls.key) or from ACME, not both');
  if (acme.domains.length === 0) throw new ConfigError('tls.acme.domains: name at least one domain the certificate is for');
  if (acme.challenge === 'http-01' && acme.httpListen === '') {
    throw new ConfigError('tls.acme.httpListen: the http-01 challenge needs an HTTP listener on port 80 (for example 0.0.0.0:80)');
  }
}
