/**
 * What a signed-in user (or a robot token of one), or nobody, may do: the rules, cut down by a
 * robot token's own scope. The token server grants from this; so does the registry when it lists
 * the catalog or mounts without `from`.
 */
import { isValidName } from '../registry/names.js';
import { ALL_ACTIONS, type AccessPolicy, ANONYMOUS, type Caller } from './access.js';
import type { Action } from './permissions.js';
import { type RobotRecord, robotAllows } from './robots.js';
import type { ResourceScope } from './scope.js';
import type { AccessEntry } from './token.js';

/** A caller who proved who they are: a password, or a robot token of that user. */
export interface UserPrincipal {
  name: string;
  robot?: RobotRecord;
  /** Of the password hash the login matched (refresh tokens carry it). */
  fingerprint?: string;
}

function callerOf(principal: UserPrincipal | undefined): Caller {
  return principal ? { kind: 'user', name: principal.name } : ANONYMOUS;
}

/** The actions `principal` (undefined: anonymous) may do on a repository. */
export function repositoryActions(policy: AccessPolicy, principal: UserPrincipal | undefined, repository: string): Set<Action> {
  const allowed = policy.actions(callerOf(principal), repository);
  const robot = principal?.robot;
  if (robot) for (const action of allowed) if (!robotAllows(robot, 'repository', repository, action)) allowed.delete(action);
  return allowed;
}

/** Whether the principal may list the catalog (filtered to what it may pull): all may, robots by scope. */
export function catalogAllowed(principal: UserPrincipal | undefined): boolean {
  return !principal?.robot || robotAllows(principal.robot, 'registry', 'catalog', '*');
}

/**
 * The intersection of what was asked and what is allowed, one access entry per requested
 * resource (an empty list where nothing is allowed: a partial grant, never an error).
 */
export function grantScopes(policy: AccessPolicy, principal: UserPrincipal | undefined, scopes: readonly ResourceScope[]): AccessEntry[] {
  return scopes.map((scope) => {
    let granted: string[] = [];
    if (scope.type === 'repository' && isValidName(scope.name)) {
      const allowed = repositoryActions(policy, principal, scope.name);
      const wanted = scope.actions.flatMap((a) => (a === '*' ? [...ALL_ACTIONS] : [a]));
      granted = ALL_ACTIONS.filter((a) => wanted.includes(a) && allowed.has(a));
    } else if (scope.type === 'registry' && scope.name === 'catalog' && scope.actions.includes('*') && catalogAllowed(principal)) {
      granted = ['*'];
    }
    return { type: scope.type, name: scope.name, actions: granted };
  });
}
