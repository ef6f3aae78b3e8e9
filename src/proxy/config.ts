/**
 * The `proxies:` and `mirrors:` sections of the config: their schema (checked by src/config.ts
 * with every other key) and their types. `proxies` is a list, so file-only;
 * `mirrors.namespaces` comes from the environment too (`BERTH_MIRRORS_NAMESPACES=true`).
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type Field, type PathResolver } from '../config-schema.js';
import { isValidName } from '../registry/names.js';
import { parseDuration } from '../util/index.js';
import { parsePlatform, type Platform } from './platform.js';
import { DOCKER_HUB_HOSTS, parseRelativeReference } from './reference.js';

export interface ProxyConfig {
  /** Names under `prefix/` are pulled through (`""`: names no other proxy and no local repository claims). */
  prefix: string;
  /** The upstream registry's origin, `https://registry-1.docker.io`: no path, no credentials. */
  url: string;
  /** For the upstream (Basic, or the token flow); both empty: anonymous. */
  username: string;
  password: string;
  /** A file holding the password (one trailing newline dropped); read at start, wins over `password`. */
  passwordFile: string;
  /** How long a tag's digest is trusted before a HEAD asks the upstream again. */
  tagTtl: string;
  /** Cached manifests not pulled for this long go at the next gc; "" = kept until deleted. */
  evictAfter: string;
  /** One-part names get `library/` upstream (Docker Hub's official images); auto: for Docker Hub. */
  library: 'auto' | boolean;
  /** The most an upstream may take to answer (headers), and to send the next bytes of a body. */
  timeout: string;
  /** References (as clients write them after the prefix) copied in and kept fresh. */
  sync: string[];
  /** How often `sync` is refreshed (one replica per period). */
  syncEvery: string;
  /** Platforms of an index that `sync` copies (`linux/amd64`); empty: all. */
  syncPlatforms: string[];
}

export interface MirrorsConfig {
  /** Serve containerd's `?ns=<host>` through the proxy whose upstream host is `<host>`. */
  namespaces: boolean;
}

/** What the proxy module works with: durations in milliseconds, the password read, `library` decided. */
export interface ProxySettings {
  prefix: string;
  url: string;
  username: string;
  password: string;
  tagTtlMs: number;
  /** 0: never. */
  evictAfterMs: number;
  library: boolean;
  timeoutMs: number;
  sync: string[];
  syncEveryMs: number;
  syncPlatforms: Platform[];
}

const KEYS = ['prefix', 'url', 'username', 'password', 'passwordFile', 'tagTtl', 'evictAfter', 'library', 'timeout', 'sync', 'syncEvery', 'syncPlatforms'];
const DURATION = /^\d{1,15}(?:ms|[smhdwy])?$/;
const DURATION_HINT = 'must be a duration like 30s, 5m, 1h or 30d';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function durationOf(value: unknown, where: string, fallback: string, min: number, max: number, what: string): string {
  const text = value ?? fallback;
  const ms = typeof text === 'string' && DURATION.test(text) ? parseDuration(text) : undefined;
  if (ms === undefined) throw new ConfigError(`${where}: ${DURATION_HINT}`);
  if (ms < min || ms > max) throw new ConfigError(`${where}: ${what}`);
  return text as string;
}

function stringOf(value: unknown, where: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new ConfigError(`${where}: must be a string`);
  return value;
}

function listOf(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) throw new ConfigError(`${where}: must be a list of strings`);
  return value as string[];
}

function checkUrl(value: unknown, where: string): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(`${where}: must be the upstream registry's http(s) URL, like https://registry-1.docker.io`);
  if (url.username || url.password) throw new ConfigError(`${where}: no credentials in the URL; use username and password (or passwordFile)`);
  if ((url.pathname !== '/' && url.pathname !== '/v2/' && url.pathname !== '/v2') || url.search || url.hash) {
    throw new ConfigError(`${where}: only the registry's origin (scheme, host, port), like https://ghcr.io: names under it go after the prefix`);
  }
  return url.origin;
}

function checkProxy(item: unknown, where: string, resolvePath: PathResolver): ProxyConfig {
  if (!isMap(item)) throw new ConfigError(`${where}: must be a map (prefix, url, ...)`);
  for (const key of Object.keys(item)) if (!KEYS.includes(key)) throw new ConfigError(`${where}.${key}: unknown key (known here: ${KEYS.join(', ')})`);
  const prefix = item.prefix;
  if (typeof prefix !== 'string' || (prefix !== '' && !isValidName(prefix))) {
    throw new ConfigError(`${where}.prefix: must be a repository name part like hub or mirrors/ghcr, or "" (names with no prefix)`);
  }
  const url = checkUrl(item.url, `${where}.url`);
  const username = stringOf(item.username, `${where}.username`);
  const password = stringOf(item.password, `${where}.password`);
  const passwordFileText = stringOf(item.passwordFile, `${where}.passwordFile`);
  const passwordFile = passwordFileText === '' ? '' : resolvePath(passwordFileText, `proxies`);
  if (password !== '' && passwordFile !== '') throw new ConfigError(`${where}: password and passwordFile: give one`);
  if ((username === '') !== (password === '' && passwordFile === '')) throw new ConfigError(`${where}: username and password (or passwordFile): give both or neither (neither: anonymous)`);
  const library = item.library ?? 'auto';
  if (library !== 'auto' && typeof library !== 'boolean') throw new ConfigError(`${where}.library: must be auto, true or false`);
  const sync = listOf(item.sync, `${where}.sync`);
  sync.forEach((text, i) => {
    try {
      parseRelativeReference(text);
    } catch (err) {
      throw new ConfigError(`${where}.sync[${i}]: ${(err as Error).message}`);
    }
  });
  const syncPlatforms = listOf(item.syncPlatforms, `${where}.syncPlatforms`);
  syncPlatforms.forEach((text, i) => {
    if (!parsePlatform(text)) throw new ConfigError(`${where}.syncPlatforms[${i}]: must be os/arch or os/arch/variant, like linux/amd64 (got ${JSON.stringify(text)})`);
  });
  const evictAfter = item.evictAfter === undefined || item.evictAfter === '' ? '' : durationOf(item.evictAfter, `${where}.evictAfter`, '', 3_600_000, Number.MAX_SAFE_INTEGER, 'must be at least 1h (or empty: never)');
  return {
    prefix,
    url,
    username,
    password,
    passwordFile,
    tagTtl: durationOf(item.tagTtl, `${where}.tagTtl`, '5m', 0, 365 * 86_400_000, 'must be at most a year'),
    evictAfter,
    library,
    timeout: durationOf(item.timeout, `${where}.timeout`, '30s', 1000, 600_000, 'must be from 1s to 10m'),
    sync,
    syncEvery: durationOf(item.syncEvery, `${where}.syncEvery`, '1h', 60_000, 365 * 86_400_000, 'must be from 1m to a year'),
    syncPlatforms,
  };
}

/** `proxies:`: each entry checked, prefixes unique, none inside another, one `""` at most. */
export function checkProxyList(value: unknown, key: string, resolvePath: PathResolver): ProxyConfig[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: must be a list of proxies (prefix, url, ...)`);
  const proxies = value.map((item, i) => checkProxy(item, `${key}[${i}]`, resolvePath));
  proxies.forEach((proxy, i) => {
    for (const other of proxies.slice(0, i)) {
      if (other.prefix === proxy.prefix) throw new ConfigError(`${key}[${i}].prefix: ${JSON.stringify(proxy.prefix)} is used twice`);
      if (proxy.prefix !== '' && other.prefix !== '' && (proxy.prefix.startsWith(`${other.prefix}/`) || other.prefix.startsWith(`${proxy.prefix}/`))) {
        throw new ConfigError(`${key}[${i}].prefix: ${proxy.prefix} and ${other.prefix} overlap: one would hide the other`);
      }
    }
  });
  return proxies;
}

export const PROXIES_SCHEMA: Field = { kind: 'custom', default: [], check: checkProxyList };

export const MIRRORS_SCHEMA: Field = { kind: 'object', fields: { namespaces: { kind: 'boolean', default: false } } };

export function isDockerHub(url: string): boolean {
  return DOCKER_HUB_HOSTS.has(new URL(url).host);
}

/** The settings the proxy module runs with (reads `passwordFile`). */
export function proxySettings(config: ProxyConfig): ProxySettings {
  let password = config.password;
  if (config.passwordFile !== '') {
    try {
      password = readFileSync(config.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`config: proxies (prefix ${JSON.stringify(config.prefix)}): cannot read passwordFile ${config.passwordFile}: ${(err as Error).message}`);
    }
  }
  return {
    prefix: config.prefix,
    url: config.url,
    username: config.username,
    password,
    tagTtlMs: parseDuration(config.tagTtl)!,
    evictAfterMs: config.evictAfter === '' ? 0 : parseDuration(config.evictAfter)!,
    library: config.library === 'auto' ? isDockerHub(config.url) : config.library,
    timeoutMs: parseDuration(config.timeout)!,
    sync: config.sync,
    syncEveryMs: parseDuration(config.syncEvery)!,
    syncPlatforms: config.syncPlatforms.map((text) => parsePlatform(text)!),
  };
}

/** How metrics and logs name a proxy: its prefix, `/` for the one without. */
export function proxyLabel(prefix: string): string {
  return prefix === '' ? '/' : prefix;
}
