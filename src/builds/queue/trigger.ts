/**
 * `POST /api/builds`: a build started by hand, as if the ref had just been pushed. The commit
 * (and its message) and the default branch come from the GitHub API.
 */
import type { PrincipalRef } from '../../auth/permissions.js';
import { RegistryError } from '../../registry/errors.js';
import type { BuildsConfig, LinkedRepository } from '../config.js';
import { GitHubError, type GitHubApi, MAX_REF_NAME, planBuilds, parseRef, type SourceRef } from '../github/index.js';
import type { BuildPlan } from './records.js';

export interface TriggerRequest {
  /** owner/repo on GitHub, or the Berth repository it builds. */
  repository: string;
  /** `refs/heads/x`, `refs/tags/x`; or `branch` / `tag`; none: the default branch. */
  ref?: string;
  branch?: string;
  tag?: string;
  /** A commit; none: the ref's current commit. */
  sha?: string;
  /** Only this rule. */
  rule?: string;
}

/** Longest value of a field: refs are matched against the rules' regular expressions. */
const MAX_FIELD = MAX_REF_NAME + 'refs/heads/'.length;

function badRequest(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

export function parseTriggerRequest(value: unknown): TriggerRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the body must be a JSON object');
  const body = value as Record<string, unknown>;
  const known = new Set(['repository', 'ref', 'branch', 'tag', 'sha', 'rule']);
  for (const key of Object.keys(body)) if (!known.has(key)) throw badRequest(`unknown field ${key}`);
  for (const key of known) {
    if (body[key] !== undefined && typeof body[key] !== 'string') throw badRequest(`${key} must be a string`);
    if (typeof body[key] === 'string' && (body[key] as string).length > MAX_FIELD) throw badRequest(`${key} is longer than ${MAX_FIELD} characters`);
  }
  if (typeof body.repository !== 'string' || body.repository === '') throw badRequest('repository is required');
  if ([body.ref, body.branch, body.tag].filter((v) => v !== undefined).length > 1) throw badRequest('give one of ref, branch, tag');
  if (body.sha !== undefined && !/^[0-9a-fA-F]{7,40}$/.test(body.sha as string)) throw badRequest('sha must be a commit id (7 to 40 hex digits)');
  return body as unknown as TriggerRequest;
}

export function findLinked(config: BuildsConfig, name: string): LinkedRepository | undefined {
  const lower = name.toLowerCase();
  return config.repositories.find((r) => r.github.toLowerCase() === lower) ?? config.repositories.find((r) => r.image === name);
}

function githubFailed(err: unknown, what: string): RegistryError {
  if (err instanceof GitHubError && (err.status === 404 || err.status === 422)) {
    return new RegistryError('NAME_UNKNOWN', `GitHub does not know ${what}`, { status: 404 });
  }
  return new RegistryError('UNAVAILABLE', `GitHub could not be asked about ${what}: ${(err as Error).message}`, { status: 503 });
}

/** Who triggers: a name for the record, and the signed-in principal whose pull rights the build gets. */
export interface TriggeredBy {
  user: string | undefined;
  principal: PrincipalRef | undefined;
}

export async function planTrigger(linked: LinkedRepository, request: TriggerRequest, github: GitHubApi, registryHost: string, by: TriggeredBy): Promise<BuildPlan[]> {
  let defaultBranch: string;
  try {
    defaultBranch = (await github.json<{ default_branch?: string }>(`repos/${linked.github}`)).default_branch ?? 'main';
  } catch (err) {
    throw githubFailed(err, linked.github);
  }
  let ref: SourceRef | undefined;
  if (request.ref !== undefined) {
    ref = parseRef(request.ref) ?? parseRef(`refs/heads/${request.ref}`);
    if (!ref || request.ref.startsWith('refs/') && !parseRef(request.ref)) throw badRequest('ref must be refs/heads/NAME or refs/tags/NAME');
  } else if (request.tag !== undefined) {
    ref = { type: 'tag', name: request.tag };
  } else {
    ref = { type: 'branch', name: request.branch ?? defaultBranch };
  }
  const at = request.sha ?? `${ref.type === 'branch' ? 'heads' : 'tags'}/${ref.name}`;
  let commit: { sha?: string; commit?: { message?: string } };
  try {
    commit = await github.json(`repos/${linked.github}/commits/${at.split('/').map(encodeURIComponent).join('/')}`);
  } catch (err) {
    throw githubFailed(err, `${request.sha ? `commit ${request.sha}` : `${ref.type} ${ref.name}`} in ${linked.github}`);
  }
  if (typeof commit.sha !== 'string' || !/^[0-9a-f]{40}$/.test(commit.sha)) throw new RegistryError('UNAVAILABLE', 'GitHub answered without a commit id', { status: 503 });
  const plans = planBuilds(
    linked,
    { ref, sha: commit.sha, commitMessage: commit.commit?.message ?? '', defaultBranch, trigger: { kind: 'manual', ...(by.user ? { user: by.user } : {}), ...(by.principal ? { principal: by.principal } : {}) }, rule: request.rule },
    registryHost,
  );
  if (plans.length === 0) {
    throw badRequest(request.rule ? `rule ${request.rule} of ${linked.github} does not build ${ref.type} ${ref.name}` : `no build rule of ${linked.github} matches ${ref.type} ${ref.name}`);
  }
  return plans;
}
