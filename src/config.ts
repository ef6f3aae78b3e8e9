/**
 * YAML file + `BERTH_*` environment + command-line flags -> one validated, typed Config.
 * Every key has a default, so a file names only what it changes. Relative paths in a file
 * resolve against the file's folder; relative paths from the environment or flags against the
 * working directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { AUTH_SCHEMA, type AuthConfig } from './auth/config.js';
import { BUILDS_SCHEMA, type BuildsConfig } from './builds/config.js';
import { applyEnvironment, checkField, ConfigError, type Field } from './config-schema.js';

export { ConfigError } from './config-schema.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** HOST:PORT to listen on; port 0 picks a free port. */
  listen: string;
  storage: {
    driver: 'filesystem' | 'memory';
    filesystem: { root: string };
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
  auth: AuthConfig;
  builds: BuildsConfig;
  log: { level: LogLevel };
}

const LISTEN = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export const CONFIG_SCHEMA: Field = {
  kind: 'object',
  fields: {
    listen: { kind: 'string', default: '127.0.0.1:5000', pattern: LISTEN, hint: 'must be HOST:PORT, for example 127.0.0.1:5000' },
    storage: {
      kind: 'object',
      fields: {
        driver: { kind: 'enum', default: 'filesystem', values: ['filesystem', 'memory'] },
        filesystem: { kind: 'object', fields: { root: { kind: 'path', default: './data' } } },
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
    auth: AUTH_SCHEMA,
    builds: BUILDS_SCHEMA,
    log: {
      kind: 'object',
      fields: { level: { kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] } },
    },
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

export interface LoadOptions {
  /** Config file; undefined: defaults only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, winning over file and environment. */
  listen?: string;
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
  const fileDir = options.file ? dirname(resolve(cwd, options.file)) : cwd;
  const resolvePath = (path: string, key: string | undefined): string => {
    if (isAbsolute(path)) return path;
    return resolve(key === undefined || fromEnv.has(key) ? cwd : fileDir, path);
  };
  const prefix = options.file ? `${options.file}: ` : '';
  try {
    return checkField(CONFIG_SCHEMA, value, '', resolvePath) as Config;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`config: ${prefix}${err.message}`);
    throw err;
  }
}

/** Splits `HOST:PORT` (IPv6 hosts in brackets). */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`config: listen: invalid address ${listen}`);
  return { host, port };
}
