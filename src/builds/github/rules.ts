/**
 * Build rules, as Docker Hub had them: which pushed refs build, under which image tags, with
 * which build arguments. Pure functions: no I/O.
 */
import { type BuildRule, sourcePattern } from '../config.js';

export interface SourceRef {
  type: 'branch' | 'tag';
  name: string;
}

/**
 * Longest ref name built. Rules' `/regex/` sources (written by the admin) are matched against
 * names that anyone who may push or trigger chooses: the length is bounded first.
 */
export const MAX_REF_NAME = 255;

/** `refs/heads/x` -> branch x, `refs/tags/x` -> tag x; anything else is not built. */
export function parseRef(ref: string): SourceRef | undefined {
  if (ref.length > MAX_REF_NAME + 'refs/heads/'.length) return undefined;
  const m = /^refs\/(heads|tags)\/(.+)$/.exec(ref);
  if (!m) return undefined;
  return { type: m[1] === 'heads' ? 'branch' : 'tag', name: m[2]! };
}

export function refName(ref: SourceRef): string {
  return `refs/${ref.type === 'branch' ? 'heads' : 'tags'}/${ref.name}`;
}

/** What a linked repository without rules builds: its default branch as latest, tag X as X. */
export function defaultRules(defaultBranch: string): BuildRule[] {
  const common = { dockerfile: 'Dockerfile', context: '', buildArgs: {} };
  return [
    { name: 'default-branch', type: 'branch', source: defaultBranch, tag: 'latest', ...common },
    { name: 'tags', type: 'tag', source: '/^.+$/', tag: '{sourceref}', ...common },
  ];
}

/**
 * Makes a tag from a template's output: characters a tag cannot have become `-` (a branch
 * `feature/x` with `{sourceref}` gives `feature-x`), at most 128 characters, starting with a
 * letter, digit or `_`. Empty when nothing usable is left.
 */
export function sanitizeTag(raw: string): string {
  return raw
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

/** Expands a tag template (comma-separated for several tags) for a ref and its regex groups. */
export function renderTags(template: string, ref: SourceRef, groups: readonly (string | undefined)[] = []): string[] {
  const tags: string[] = [];
  for (const part of template.split(',')) {
    const raw = part.trim().replace(/\{sourceref\}|\{\\([1-9])\}/g, (_all, group: string | undefined) => (group ? (groups[Number(group)] ?? '') : ref.name));
    const tag = sanitizeTag(raw);
    if (tag && !tags.includes(tag)) tags.push(tag);
  }
  return tags;
}

export interface RuleMatch {
  rule: BuildRule;
  tags: string[];
}

/** The rules a pushed ref triggers, each with its tags; rules whose tags come out empty are left out. */
export function matchRules(rules: readonly BuildRule[], ref: SourceRef): RuleMatch[] {
  const matches: RuleMatch[] = [];
  for (const rule of rules) {
    if (rule.type !== ref.type) continue;
    const pattern = sourcePattern(rule.source);
    let groups: (string | undefined)[] = [];
    if (pattern) {
      const m = pattern.exec(ref.name);
      if (!m) continue;
      groups = [...m];
    } else if (rule.source !== ref.name) {
      continue;
    }
    const tags = renderTags(rule.tag, ref, groups);
    if (tags.length > 0) matches.push({ rule, tags });
  }
  return matches;
}

export interface BuildArgsInput {
  ref: SourceRef;
  sha: string;
  commitMessage: string;
  /** The Berth repository and the registry host as Dockerfiles name it. */
  image: string;
  registryHost: string;
  tags: string[];
  dockerfile: string;
  rule: BuildRule;
}

/**
 * Docker Hub's build variables, as build arguments: SOURCE_BRANCH (the branch or tag name),
 * SOURCE_COMMIT, COMMIT_MSG, DOCKER_REPO (host/repository), DOCKER_TAG (the first tag),
 * IMAGE_NAME (DOCKER_REPO:DOCKER_TAG), DOCKERFILE_PATH. A rule's own buildArgs win: whoever
 * wrote them meant them.
 */
export function buildArgs(input: BuildArgsInput): Record<string, string> {
  const dockerRepo = input.registryHost ? `${input.registryHost}/${input.image}` : input.image;
  const dockerTag = input.tags[0] ?? 'latest';
  return {
    SOURCE_BRANCH: input.ref.name,
    SOURCE_COMMIT: input.sha,
    COMMIT_MSG: input.commitMessage,
    DOCKER_REPO: dockerRepo,
    DOCKER_TAG: dockerTag,
    IMAGE_NAME: `${dockerRepo}:${dockerTag}`,
    DOCKERFILE_PATH: input.dockerfile,
    ...input.rule.buildArgs,
  };
}
