/**
 * Who may do what, from the config's `teams` and `rules` (DESIGN "Rules"):
 * - the first rule whose repository pattern matches and whose subject names the caller decides;
 * - `anonymous` names only callers without credentials, and a signed-in caller also gets what
 *   anonymous callers get;
 * - when no rule decides, a signed-in caller may pull and push, an anonymous caller nothing.
 * Patterns use `*` for any characters, `/` included; everything else matches itself.
 */
import { compileGlob, type Glob } from '../util/index.js';
import type { AccessRule } from './config.js';
import type { Action } from './permissions.js';

export const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** A caller as the rules see it: nobody, or a signed-in user (robot tokens act as their user). */
export type Caller = { kind: 'anonymous' } | { kind: 'user'; name: string };

export const ANONYMOUS: Caller = { kind: 'anonymous' };

/** `*` matches any characters (including `/`); the rest is literal. */

interface CompiledRule {
  pattern: Glob;
  rule: AccessRule;
}

const SIGNED_IN_DEFAULT: readonly Action[] = ['pull', 'push'];

export class AccessPolicy {
  private readonly rules: CompiledRule[];
  private readonly teamsOf = new Map<string, Set<string>>();

  constructor(rules: readonly AccessRule[], teams: Record<string, readonly string[]>) {
    this.rules = rules.map((rule) => ({ pattern: compileGlob(rule.repository), rule }));
    for (const [team, members] of Object.entries(teams)) {
      for (const member of members) {
        const set = this.teamsOf.get(member) ?? new Set<string>();
        set.add(team);
        this.teamsOf.set(member, set);
      }
    }
  }

  /** What `caller` may do on `repository`. */
  actions(caller: Caller, repository: string): Set<Action> {
    const anonymous = this.decide(repository, (rule) => ('anonymous' in rule ? rule.anonymous : undefined)) ?? [];
    if (caller.kind === 'anonymous') return new Set(anonymous);
    const teams = this.teamsOf.get(caller.name);
    const decided = this.decide(repository, (rule) => {
      if ('authenticated' in rule) return rule.authenticated;
      if ('user' in rule) return rule.user === caller.name ? rule.actions : undefined;
      if ('team' in rule) return teams?.has(rule.team) ? rule.actions : undefined;
      return undefined; // an anonymous rule never names a signed-in caller
    });
    return new Set([...(decided ?? SIGNED_IN_DEFAULT), ...anonymous]);
  }

  /** The actions of the first matching rule whose subject names the caller (`names` gives them). */
  private decide(repository: string, names: (rule: AccessRule) => readonly Action[] | undefined): readonly Action[] | undefined {
    for (const { pattern, rule } of this.rules) {
      if (!pattern.test(repository)) continue;
      const granted = names(rule);
      if (granted) return granted;
    }
    return undefined;
  }
}
