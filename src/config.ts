/**
 * YAML file + `BERTH_*` environment + command-line flags -> one validated, typed Config.
 * Every key has a default, so a file names only what it changes. Relative paths in a file
 * resolve against the file's folder; relative paths from the environment or flags against the
 * working directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUTH_SCHEMA, type AuthConfig } from './auth/config.js';
import { BUILDS_SCHEMA, type BuildsConfig } from './builds/config.js';
import { CONSOLE_SCHEMA, type ConsoleConfig } from './console/config.js';
import { applyEnvironment, checkField, ConfigError, type Field } from './config-schema.js';
import { NOTIFICATIONS_SCHEMA, type NotificationsConfig, timings } from './events/config.js';
import { checkProxies } from './http/proxies.js';
import { MIRRORS_SCHEMA, type MirrorsConfig, PROXIES_SCHEMA, type ProxyConfig } from './proxy/config.js';
import { checkTlsConfig, TLS_SCHEMA, type TlsConfig } from './tls/config.js';

export { ConfigError } from './config-schema.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** HOST:PORT to listen on; port 0 picks a free port. */
  listen: string;
  storage: {
    driver: 'filesystem' | 's3' | 'memory';
    filesystem: { root: string };
    s3: S3Config;
  };
  limits: {
    /** Largest manifest accepted (bytes); the spec asks registries to take at least 4 MiB. */
    maxManifestSize: number;
    /** Largest blob accepted (bytes); 0 for no limit. */
    maxBlobSize: number;
  };
  uploads: {
    /** Honour `?mount=` without `from`, from any repository the caller may pull. */
    automaticMount: boolean;
  };
  /** How long the server waits for clients (seconds): nobody may hold a connection for free. */
  timeouts: {
    /** To receive a request's headers. */
    headers: number;
    /** To receive a small body whole (manifests, token requests, webhooks, API calls); not blob uploads. */
    body: number;
    /** A connection with no byte moving either way (a stalled upload or download). */
    idle: number;
    /** A keep-alive connection between requests. */
    keepAlive: number;
  };
  auth: AuthConfig;
  builds: BuildsConfig;
  gc: GcConfig;
  notifications: NotificationsConfig;
  tls: TlsConfig;
  /** Pulls served, every write refused (405 UNSUPPORTED): for maintenance and mirrors. */
  readOnly: boolean;
  /**
   * Addresses (CIDRs) of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (the
   * token realm, the logged client address). Default: loopback, a proxy on the same host.
   */
  trustedProxies: string[];
  metrics: {
    enabled: boolean;
    /** "" = /metrics on the main listener; or HOST:PORT of a listener of its own. */
    listen: string;
  };
  /** Pull-through caches of other registries (src/proxy). */
  proxies: ProxyConfig[];
  mirrors: MirrorsConfig;
  log: { level: LogLevel };
  /** Server processes sharing the listen address; `auto`: one per CPU. */
  workers: number | 'auto';
  console: ConsoleConfig;
}

/** Defaults of `berth gc` (its flags win) and of the scheduled gc. */
export interface GcConfig {
  /** Anything younger is kept (a push may be under way): a duration like 1h. */
  grace: string;
  /** Uploads started longer ago are abandoned: a duration like 24h. */
  uploadTtl: string;
  /** Also delete manifests no tag reaches (keeping indexes' children and referrers of what stays). */
  deleteUntagged: boolean;
  /** Run gc in the server this often (one replica per period); "" = never. */
  schedule: string;
}

export interface S3Config {
  bucket: string;
  region: string;
  /** S3-compatible stores (MinIO, Ceph RGW, R2, ...); empty: AWS. */
  endpoint: string;
  forcePathStyle: boolean;
  /** Key prefix (Distribution's rootdirectory). */
  prefix: string;
  /** Empty: the standard AWS environment / profile / role chain. */
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  storageClass: string;
  serverSideEncryption: '' | 'AES256' | 'aws:kms';
  kmsKeyId: string;
  /** Bytes per multipart part (5 MiB to 5 GiB). */
  partSize: number;
  /** Answer blob GETs with 307 to a presigned URL. */
  redirect: boolean;
  /** Presigned URL lifetime, seconds. */
  redirectExpiry: number;
}

const MiB = 1024 * 1024;

const S3_SCHEMA: Field = {
  kind: 'object',
  fields: {
    bucket: { kind: 'string', default: '', pattern: /^(|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/, hint: 'must be an S3 bucket name' },
    region: { kind: 'string', default: 'us-east-1' },
    endpoint: { kind: 'string', default: '', pattern: /^(|https?:\/\/\S+)$/, hint: 'must be an http(s) URL or empty' },
    forcePathStyle: { kind: 'boolean', default: false },
    prefix: { kind: 'string', default: '', pattern: /^[A-Za-z0-9._\/-]*$/, hint: 'may hold only letters, digits and . _ - /' },
    accessKeyId: { kind: 'string', default: '' },
    secretAccessKey: { kind: 'string', default: '', secret: true },
    sessionToken: { kind: 'string', default: '', secret: true },
    storageClass: { kind: 'string', default: 'STANDARD', pattern: /^[A-Z_]+$/, hint: 'must be an S3 storage class such as STANDARD' },
    serverSideEncryption: { kind: 'enum', default: '', values: ['', 'AES256', 'aws:kms'] },
    kmsKeyId: { kind: 'string', default: '' },
    partSize: { kind: 'integer', default: 16 * MiB, min: 5 * MiB, max: 5 * 1024 * MiB },
    redirect: { kind: 'boolean', default: false },
    redirectExpiry: { kind: 'integer', default: 1200, min: 1, max: 7 * 24 * 3600 },
  },
};

/** Rules between keys, checked after each key on its own. */
function checkCrossKeys(config: Config): void {
  const s3 = config.storage.s3;
  if (config.storage.driver === 's3' && s3.bucket === '') throw new ConfigError('storage.s3.bucket: needed when storage.driver is s3');
  if ((s3.accessKeyId === '') !== (s3.secretAccessKey === '')) {
    throw new ConfigError('storage.s3.accessKeyId and storage.s3.secretAccessKey: give both or neither (neither: the AWS credential chain)');
  }
  timings(config.notifications);
  checkTlsConfig(config.tls);
  if (config.gc.schedule !== '' && /^0+[smhdwy]?$/.test(config.gc.schedule)) throw new ConfigError('gc.schedule: must be longer than 0 (or empty: off)');
}

const LISTEN = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const DURATION = /^\d{1,15}[smhdwy]?$/;

export const CONFIG_SCHEMA: Field = {
  kind: 'object',
  fields: {
    listen: { kind: 'string', default: '127.0.0.1:5000', pattern: LISTEN, hint: 'must be HOST:PORT, for example 127.0.0.1:5000' },
    storage: {
      kind: 'object',
      fields: {
        driver: { kind: 'enum', default: 'filesystem', values: ['filesystem', 's3', 'memory'] },
        filesystem: { kind: 'object', fields: { root: { kind: 'path', default: './data' } } },
        s3: S3_SCHEMA,
      },
    },
    limits: {
      kind: 'object',
      fields: {
        maxManifestSize: { kind: 'integer', default: 4 * 1024 * 1024, min: 4 * 1024, max: 64 * 1024 * 1024 },
        maxBlobSize: { kind: 'integer', default: 0, min: 0 },
      },
    },
    uploads: { kind: 'object', fields: { automaticMount: { kind: 'boolean', default: true } } },
    timeouts: {
      kind: 'object',
      fields: {
        headers: { kind: 'integer', default: 20, min: 1, max: 3600 },
        body: { kind: 'integer', default: 30, min: 1, max: 3600 },
        idle: { kind: 'integer', default: 120, min: 1, max: 86_400 },
        keepAlive: { kind: 'integer', default: 5, min: 1, max: 3600 },
      },
    },
    auth: AUTH_SCHEMA,
    builds: BUILDS_SCHEMA,
    gc: {
      kind: 'object',
      fields: {
        grace: { kind: 'string', default: '1h', pattern: DURATION, hint: 'must be a duration like 30m, 1h or 2d' },
        uploadTtl: { kind: 'string', default: '24h', pattern: DURATION, hint: 'must be a duration like 6h, 24h or 7d' },
        deleteUntagged: { kind: 'boolean', default: false },
        schedule: { kind: 'string', default: '', pattern: /^(|\d{1,15}[smhdwy]?)$/, hint: 'must be a duration like 6h or 1d, or empty (off)' },
      },
    },
    tls: TLS_SCHEMA,
    readOnly: { kind: 'boolean', default: false },
    trustedProxies: { kind: 'custom', default: ['127.0.0.0/8', '::1/128'], check: checkProxies },
    metrics: {
      kind: 'object',
      fields: {
        enabled: { kind: 'boolean', default: true },
        listen: { kind: 'string', default: '', pattern: /^(|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/, hint: 'must be HOST:PORT (for example 127.0.0.1:9090) or empty' },
      },
    },
    notifications: NOTIFICATIONS_SCHEMA,
    proxies: PROXIES_SCHEMA,
    mirrors: MIRRORS_SCHEMA,
    console: CONSOLE_SCHEMA,
    log: {
      kind: 'object',
      fields: { level: { kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] } },
    },
    workers: { kind: 'integer', default: 1, min: 1, max: 256, words: ['auto'] },
  },
};

/** The package's root: the nearest folder above this module with a package.json (src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(resolve(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The embedded default config, shipped in the package. */
export const DEFAULT_CONFIG_FILE = resolve(packageRoot(), 'config/registry.yaml');

/**
 * The YAML parser, loaded on first use: some 4 MiB resident that a cluster worker, which gets
 * its config from the primary, never needs.
 */
function parseYaml(text: string): unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
}

export interface LoadOptions {
  /** Config file; undefined: defaults only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, winning over file and environment. */
  listen?: string;
  workers?: number | 'auto';
  /** Working directory for relative paths from the environment and flags. */
  cwd?: string;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  let raw: unknown = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`${options.file}: not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${options.file}: must be a map of keys`);
  }
  const { value, fromEnv } = applyEnvironment(CONFIG_SCHEMA, raw as Record<string, unknown>, options.env ?? process.env);
  if (options.listen !== undefined) {
    value.listen = options.listen;
    fromEnv.add('listen');
  }
  if (options.workers !== undefined) value.workers = options.workers;
  const fileDir = options.file ? dirname(resolve(cwd, options.file)) : cwd;
  const resolvePath = (path: string, key: string | undefined): string => {
    if (isAbsolute(path)) return path;
    return resolve(key === undefined || fromEnv.has(key) ? cwd : fileDir, path);
  };
  const prefix = options.file ? `${options.file}: ` : '';
  try {
    const config = checkField(CONFIG_SCHEMA, value, '', resolvePath) as Config;
    checkCrossKeys(config);
    const auth = value.auth as Record<string, unknown> | undefined;
    config.auth.modeGiven = fromEnv.has('auth.mode') || (typeof auth === 'object' && auth !== null && auth.mode !== undefined);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`config: ${prefix}${err.message}`);
    throw err;
  }
}

/** Whether a listen host is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Splits `HOST:PORT` (IPv6 hosts in brackets). */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`config: listen: invalid address ${listen}`);
  return { host, port };
}
