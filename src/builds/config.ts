/**
 * The `builds:` section of the config: its schema (checked by src/config.ts with every other
 * key) and its type.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type Field } from '../config-schema.js';
import { isValidName } from '../registry/names.js';

export interface BuildRule {
  name: string;
  type: 'branch' | 'tag';
  /** A branch or tag name, or `/regex/`. */
  source: string;
  /** Image tag template: `latest`, `{sourceref}`, `{\1}`..`{\9}`; several separated by commas. */
  tag: string;
  /** The Dockerfile's path relative to the build context (as on Docker Hub). */
  dockerfile: string;
  /** The build context's path in the repository; `/` is its root. */
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
  /**
   * Berth repositories (patterns, `*` for any characters) the build may pull base images from
   * when auth is on, besides the target itself.
   */
  pull: string[];
}

export interface BuildsConfig {
  builder: 'auto' | 'buildah' | 'native';
  /** The buildah command (a name on PATH or a path). */
  buildah: string;
  /** Where build contexts and buildah's storage live while a build runs. */
  workDir: string;
  /** Builds one replica runs at once. */
  concurrency: number;
  /** Queued builds (all replicas) beyond which new ones are refused with 429. */
  queueLimit: number;
  /** A build running longer fails. */
  timeoutSeconds: number;
  /** Finished builds (records, logs) and webhook deliveries are deleted after this many days. */
  retentionDays: number;
  /** How often a replica looks for queued builds that other replicas took in. */
  pollSeconds: number;
  /** Berth's URL as GitHub users reach it (commit status links); empty: the listen address. */
  publicUrl: string;
  /**
   * Berth's registry host as Dockerfiles name it (`FROM HOST/base/img`): pulled from Berth
   * itself, and the host in DOCKER_REPO and IMAGE_NAME. Empty: the listen address.
   */
  registryHost: string;
  source: { maxBytes: number; maxFiles: number; maxPathBytes: number };
  logs: { maxBytes: number };
  github: { api: string; token: string };
  repositories: LinkedRepository[];
}

const GITHUB_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, where: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') throw new ConfigError(`${where}: must be a string`);
  return value;
}

/** `/regex/` sources are regular expressions; anything else is an exact name. */
export function sourcePattern(source: string): RegExp | undefined {
  if (source.length < 3 || !source.startsWith('/') || !source.endsWith('/')) return undefined;
  return new RegExp(source.slice(1, -1));
}

/** A path inside the repository: relative, no `..`, no backslashes. */
function checkRepoPath(value: string, where: string): string {
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..') || value.includes('\\') || value.includes('\0')) throw new ConfigError(`${where}: must stay inside the repository (no ..)`);
  return parts.join('/');
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
  for (const name of Object.keys(buildArgs)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`${where}.buildArgs.${name}: not a valid build argument name`);
  }
  const name = str(value.name, `${where}.name`, `rule${index + 1}`);
  if (!RULE_NAME.test(name)) throw new ConfigError(`${where}.name: letters, digits, . _ - (up to 64), starting with a letter or digit`);
  const source = str(value.source, `${where}.source`);
  if (source === '') throw new ConfigError(`${where}.source: must name a ${value.type} or be a /regex/`);
  let pattern: RegExp | undefined;
  try {
    pattern = sourcePattern(source);
  } catch (err) {
    throw new ConfigError(`${where}.source: invalid regular expression: ${(err as Error).message}`);
  }
  const tag = str(value.tag, `${where}.tag`, value.type === 'tag' ? '{sourceref}' : 'latest');
  if (tag.trim() === '') throw new ConfigError(`${where}.tag: must name at least one tag`);
  const groups = [...tag.matchAll(/\{\\([1-9])\}/g)].map((m) => Number(m[1]));
  if (groups.length > 0 && !pattern) throw new ConfigError(`${where}.tag: {\\N} needs a /regex/ source`);
  const leftover = tag.replace(/\{sourceref\}|\{\\[1-9]\}/g, '');
  if (/[{}]/.test(leftover)) throw new ConfigError(`${where}.tag: unknown template (use latest, {sourceref}, {\\1}..{\\9}; quote it in YAML: '{sourceref}')`);
  return {
    name,
    type: value.type,
    source,
    tag,
    dockerfile: checkRepoPath(str(value.dockerfile, `${where}.dockerfile`, 'Dockerfile'), `${where}.dockerfile`) || 'Dockerfile',
    context: checkRepoPath(str(value.context, `${where}.context`, '/'), `${where}.context`),
    buildArgs: buildArgs as Record<string, string>,
  };
}

function checkRepositories(value: unknown, key: string): LinkedRepository[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: must be a list of linked repositories`);
  const seen = new Set<string>();
  return value.map((item, i) => {
    const where = `${key}[${i}]`;
    if (!isMap(item)) throw new ConfigError(`${where}: must be a map`);
    const known = new Set(['github', 'secret', 'image', 'token', 'rules', 'pull']);
    for (const k of Object.keys(item)) if (!known.has(k)) throw new ConfigError(`${where}.${k}: unknown key`);
    const github = str(item.github, `${where}.github`);
    if (!GITHUB_NAME.test(github)) throw new ConfigError(`${where}.github: must be owner/repo`);
    if (seen.has(github.toLowerCase())) throw new ConfigError(`${where}.github: ${github} is linked twice`);
    seen.add(github.toLowerCase());
    const secret = str(item.secret, `${where}.secret`);
    if (secret.length < 8) throw new ConfigError(`${where}.secret: must be at least 8 characters`);
    const image = str(item.image, `${where}.image`);
    if (!isValidName(image)) throw new ConfigError(`${where}.image: must be a repository name (lower case, like acme/hello)`);
    const rules = item.rules ?? [];
    if (!Array.isArray(rules)) throw new ConfigError(`${where}.rules: must be a list`);
    const pull = item.pull ?? [];
    if (!Array.isArray(pull) || !pull.every((p) => typeof p === 'string' && p !== '')) {
      throw new ConfigError(`${where}.pull: must be a list of repository patterns`);
    }
    const checked = rules.map((rule, j) => checkRule(rule, `${where}.rules[${j}]`, j));
    const names = new Set<string>();
    for (const [j, rule] of checked.entries()) {
      if (names.has(rule.name)) throw new ConfigError(`${where}.rules[${j}].name: ${rule.name} is used twice`);
      names.add(rule.name);
    }
    return { github, secret, image, token: str(item.token, `${where}.token`, ''), rules: checked, pull: pull as string[] };
  });
}

const URL_PATTERN = /^https?:\/\/\S+$/;

export const BUILDS_SCHEMA: Field = {
  kind: 'object',
  fields: {
    builder: { kind: 'enum', default: 'auto', values: ['auto', 'buildah', 'native'] },
    buildah: { kind: 'string', default: 'buildah', pattern: /^\S+$/, hint: 'must be a command name or path' },
    workDir: { kind: 'path', default: join(tmpdir(), 'berth-builds') },
    concurrency: { kind: 'integer', default: 1, min: 1, max: 64 },
    queueLimit: { kind: 'integer', default: 100, min: 1, max: 100_000 },
    timeoutSeconds: { kind: 'integer', default: 3600, min: 10, max: 7 * 24 * 3600 },
    retentionDays: { kind: 'integer', default: 30, min: 1, max: 3650 },
    pollSeconds: { kind: 'integer', default: 5, min: 1, max: 3600 },
    publicUrl: { kind: 'string', default: '', pattern: /^(?:https?:\/\/[^\s/]+(?:\/\S*)?)?$/, hint: 'must be empty or an http(s) URL' },
    registryHost: { kind: 'string', default: '', pattern: /^(?:[A-Za-z0-9.-]+(?::\d{1,5})?|\[[0-9a-fA-F:.]+\](?::\d{1,5})?)?$/, hint: 'must be empty or HOST[:PORT]' },
    source: {
      kind: 'object',
      fields: {
        maxBytes: { kind: 'integer', default: 1024 * 1024 * 1024, min: 1024 },
        maxFiles: { kind: 'integer', default: 100_000, min: 1 },
        maxPathBytes: { kind: 'integer', default: 16 * 1024 * 1024, min: 4096 },
      },
    },
    logs: { kind: 'object', fields: { maxBytes: { kind: 'integer', default: 4 * 1024 * 1024, min: 4096, max: 256 * 1024 * 1024 } } },
    github: {
      kind: 'object',
      fields: {
        api: { kind: 'string', default: 'https://api.github.com', pattern: URL_PATTERN, hint: 'must be an http(s) URL' },
        token: { kind: 'string', default: '', secret: true },
      },
    },
    repositories: { kind: 'custom', default: [], check: checkRepositories },
  },
};
