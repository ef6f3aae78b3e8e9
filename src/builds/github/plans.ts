/** From a pushed ref to the builds it asks for: the linked repository's rules (or the defaults). */
import type { LinkedRepository } from '../config.js';
import type { BuildPlan } from '../queue/index.js';
import { buildArgs, defaultRules, matchRules, type SourceRef } from './rules.js';

export interface PushInfo {
  ref: SourceRef;
  sha: string;
  commitMessage: string;
  defaultBranch: string;
  trigger: BuildPlan['trigger'];
  /** Only this rule (manual triggers may name one). */
  rule?: string;
}

/** Commit messages can be long; the build argument and the record keep the first 4 KiB. */
const MAX_MESSAGE = 4096;

export function planBuilds(linked: LinkedRepository, push: PushInfo, registryHost: string): BuildPlan[] {
  const rules = linked.rules.length > 0 ? linked.rules : defaultRules(push.defaultBranch);
  const chosen = push.rule === undefined ? rules : rules.filter((rule) => rule.name === push.rule);
  const commitMessage = push.commitMessage.slice(0, MAX_MESSAGE);
  return matchRules(chosen, push.ref).map(({ rule, tags }) => ({
    github: linked.github,
    image: linked.image,
    rule: rule.name,
    ref: push.ref,
    sha: push.sha,
    commitMessage,
    tags,
    context: rule.context,
    dockerfile: rule.dockerfile,
    buildArgs: buildArgs({ ref: push.ref, sha: push.sha, commitMessage, image: linked.image, registryHost, tags, dockerfile: rule.dockerfile, rule }),
    trigger: push.trigger,
  }));
}
