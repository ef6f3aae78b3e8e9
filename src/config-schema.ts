/**
 * A small declarative schema for the config: every key's type, default and checks in one tree,
 * from which come the defaults, the validation (with messages that name the key) and the
 * `BERTH_*` environment overrides.
 */
export type Field =
  | { kind: 'string'; default: string; pattern?: RegExp; hint?: string; secret?: boolean }
  /** `optional`: the empty string (and an empty default) means "not set" and stays empty. */
  | { kind: 'path'; default: string; optional?: boolean }
  | { kind: 'enum'; default: string; values: readonly string[] }
  /** `words`: strings accepted in the number's place (`workers: auto`). */
  | { kind: 'integer'; default: number | string; min?: number; max?: number; words?: readonly string[] }
  | { kind: 'boolean'; default: boolean }
  | { kind: 'object'; fields: Record<string, Field> }
  /** Lists and maps: file-only, checked by their own function (which names what is wrong). */
  | { kind: 'custom'; default: unknown; check: (value: unknown, key: string, resolvePath: PathResolver) => unknown };

/** Makes a configured path absolute; `key` is undefined for defaults (resolved from the cwd). */
export type PathResolver = (path: string, key: string | undefined) => string;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Builds the value of one key from the file's value (or the default), checking it. */
export function checkField(field: Field, value: unknown, key: string, resolvePath: PathResolver): unknown {
  switch (field.kind) {
    case 'object': {
      const given = value ?? {};
      if (typeof given !== 'object' || Array.isArray(given)) throw new ConfigError(`${key}: must be a map of keys`);
      const input = given as Record<string, unknown>;
      for (const name of Object.keys(input)) {
        if (!(name in field.fields)) {
          const known = Object.keys(field.fields).join(', ');
          throw new ConfigError(`${key ? `${key}.` : ''}${name}: unknown key (known here: ${known})`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [name, child] of Object.entries(field.fields)) {
        out[name] = checkField(child, input[name], key ? `${key}.${name}` : name, resolvePath);
      }
      return out;
    }
    case 'custom':
      return field.check(value ?? field.default, key, resolvePath);
    default:
      if (value === undefined || value === null) {
        if (field.kind !== 'path' || (field.optional && field.default === '')) return field.default;
        return resolvePath(field.default, undefined);
      }
      return checkScalar(field, value, key, resolvePath);
  }
}

function checkScalar(field: Exclude<Field, { kind: 'object' | 'custom' }>, value: unknown, key: string, resolvePath: PathResolver): unknown {
  switch (field.kind) {
    case 'string':
      if (typeof value !== 'string') throw new ConfigError(`${key}: must be a string (got ${describe(value)})`);
      if (field.pattern && !field.pattern.test(value)) {
        throw new ConfigError(`${key}: ${field.hint ?? `must match ${field.pattern}`} (got ${field.secret ? 'a secret' : describe(value)})`);
      }
      return value;
    case 'path':
      if (field.optional && value === '') return '';
      if (typeof value !== 'string' || value === '') throw new ConfigError(`${key}: must be a non-empty path (got ${describe(value)})`);
      return resolvePath(value, key);
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) {
        throw new ConfigError(`${key}: must be one of ${field.values.join(', ')} (got ${describe(value)})`);
      }
      return value;
    case 'integer': {
      if (typeof value === 'string' && field.words?.includes(value)) return value;
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        const or = field.words ? ` or ${field.words.join(' or ')}` : '';
        throw new ConfigError(`${key}: must be a whole number${or} (got ${describe(value)})`);
      }
      if (field.min !== undefined && value < field.min) throw new ConfigError(`${key}: must be at least ${field.min} (got ${value})`);
      if (field.max !== undefined && value > field.max) throw new ConfigError(`${key}: must be at most ${field.max} (got ${value})`);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(`${key}: must be true or false (got ${describe(value)})`);
      return value;
  }
}

/** Parses an environment string by the key's type. */
function parseEnv(field: Field, raw: string, variable: string): unknown {
  switch (field.kind) {
    case 'integer': {
      if (field.words?.includes(raw.trim())) return raw.trim();
      if (!/^-?\d+$/.test(raw.trim())) {
        const or = field.words ? ` or ${field.words.join(' or ')}` : '';
        throw new ConfigError(`${variable}: must be a whole number${or} (got ${describe(raw)})`);
      }
      return Number(raw.trim());
    }
    case 'boolean': {
      const lower = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lower)) return true;
      if (['false', '0', 'no', 'off'].includes(lower)) return false;
      throw new ConfigError(`${variable}: must be true or false (got ${describe(raw)})`);
    }
    default:
      return raw;
  }
}

/** Every scalar key as its environment variable name and path: `BERTH_STORAGE_S3_BUCKET`. */
export function environmentKeys(root: Field, prefix = 'BERTH'): Map<string, { path: string[]; field: Field }> {
  const keys = new Map<string, { path: string[]; field: Field }>();
  function walk(field: Field, path: string[]): void {
    if (field.kind === 'object') {
      for (const [name, child] of Object.entries(field.fields)) walk(child, [...path, name]);
    } else if (field.kind !== 'custom') {
      keys.set([prefix, ...path].join('_').toUpperCase(), { path, field });
    }
  }
  walk(root, []);
  return keys;
}

/**
 * Overlays `BERTH_*` variables on the raw file values (the environment wins over the file). An
 * unknown `BERTH_*` variable is an error naming it. Values parsed from the environment are
 * marked so that their relative paths resolve against the working directory.
 */
export function applyEnvironment(
  root: Field,
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  ignored: ReadonlySet<string> = new Set(),
): { value: Record<string, unknown>; fromEnv: Set<string> } {
  const keys = environmentKeys(root);
  const value = structuredClone(raw);
  const fromEnv = new Set<string>();
  for (const [variable, text] of Object.entries(env)) {
    if (!variable.startsWith('BERTH_') || text === undefined || ignored.has(variable)) continue;
    const key = keys.get(variable);
    if (!key) throw new ConfigError(`${variable}: unknown setting (no such config key; lists and maps can only be set in the file)`);
    let node = value;
    for (const part of key.path.slice(0, -1)) {
      const next = node[part];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[key.path[key.path.length - 1]!] = parseEnv(key.field, text, variable);
    fromEnv.add(key.path.join('.'));
  }
  return { value, fromEnv };
}
