/**
 * The `builds:` section of the config: its schema (checked by src/config.ts with every other
 * key) and its type.
 */
import { ConfigError, type Field } from '../config-schema.js';

export interface BuildRule {
  name: string;
  type: 'branch' | 'tag';
  /** A branch or tag name, or `/regex/`. */
  source: string;
  /** Image tag template: `latest`, `{sourceref}`, `{\1}`..`{\9}`. */
  tag: string;
  dockerfile: string;
  context: string;
  buildArgs: Record<string, string>;
}

export interface LinkedRepository {
  /** owner/repo on GitHub. */
  github: string;
  /** The webhook secret. */
  secret: string;
  /** The Berth repository built images go to. */
  image: string;
  /** Overrides builds.github.token for this repository. */
  token: string;
  /** None: default branch -> latest, tag X -> X. */
  rules: BuildRule[];
}

export interface BuildsConfig {
  builder: 'auto' | 'buildah' | 'native';
  github: { api: string; token: string };
  repositories: LinkedRepository[];
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, where: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') throw new ConfigError(`${where}: must be a string`);
  return value;
}

function checkRule(value: unknown, where: string, index: number): BuildRule {
  if (!isMap(value)) throw new ConfigError(`${where}: must be a map`);
  const known = new Set(['name', 'type', 'source', 'tag', 'dockerfile', 'context', 'buildArgs']);
  for (const k of Object.keys(value)) if (!known.has(k)) throw new ConfigError(`${where}.${k}: unknown key`);
  if (value.type !== 'branch' && value.type !== 'tag') throw new ConfigError(`${where}.type: must be branch or tag`);
  const buildArgs = value.buildArgs ?? {};
  if (!isMap(buildArgs) || !Object.values(buildArgs).every((v) => typeof v === 'string')) {
    throw new ConfigError(`${where}.buildArgs: must map names to strings`);
  }
  return {
    name: str(value.name, `${where}.name`, `rule${index + 1}`),
    type: value.type,
    source: str(value.source, `${where}.source`),
    tag: str(value.tag, `${where}.tag`, value.type === 'tag' ? '{sourceref}' : 'latest'),
    dockerfile: str(value.dockerfile, `${where}.dockerfile`, 'Dockerfile'),
    context: str(value.context, `${where}.context`, '/'),
    buildArgs: buildArgs as Record<string, string>,
  };
}

function checkRepositories(value: unknown, key: string): LinkedRepository[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: must be a list of linked repositories`);
  return value.map((item, i) => {
    const where = `${key}[${i}]`;
    if (!isMap(item)) throw new ConfigError(`${where}: must be a map`);
    const known = new Set(['github', 'secret', 'image', 'token', 'rules']);
    for (const k of Object.keys(item)) if (!known.has(k)) throw new ConfigError(`${where}.${k}: unknown key`);
    const github = str(item.github, `${where}.github`);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(github)) throw new ConfigError(`${where}.github: must be owner/repo`);
    const secret = str(item.secret, `${where}.secret`);
    if (secret.length < 8) throw new ConfigError(`${where}.secret: must be at least 8 characters`);
    const rules = item.rules ?? [];
    if (!Array.isArray(rules)) throw new ConfigError(`${where}.rules: must be a list`);
    return {
      github,
      secret,
      image: str(item.image, `${where}.image`),
      token: str(item.token, `${where}.token`, ''),
      rules: rules.map((rule, j) => checkRule(rule, `${where}.rules[${j}]`, j)),
    };
  });
}

export const BUILDS_SCHEMA: Field = {
  kind: 'object',
  fields: {
    builder: { kind: 'enum', default: 'auto', values: ['auto', 'buildah', 'native'] },
    github: {
      kind: 'object',
      fields: {
        api: { kind: 'string', default: 'https://api.github.com', pattern: /^https?:\/\/\S+$/, hint: 'must be an http(s) URL' },
        token: { kind: 'string', default: '', secret: true },
      },
    },
    repositories: { kind: 'custom', default: [], check: checkRepositories },
  },
};
