/** The access rules (DESIGN "Rules"), grants from scopes, and robot token scopes. */
import { describe, expect, it } from 'vitest';
import { AccessPolicy, ANONYMOUS } from '../../src/auth/access.js';
import type { AccessRule } from '../../src/auth/config.js';
import { catalogAllowed, grantScopes, repositoryActions, type UserPrincipal } from '../../src/auth/grants.js';
import { parseRobotScope, type RobotRecord, robotAllows, RobotScopeError } from '../../src/auth/robots.js';
import { parseScopes } from '../../src/auth/scope.js';
import { compileGlob } from '../../src/util/glob.js';

const rules: AccessRule[] = [
  { repository: 'public/*', anonymous: ['pull'] },
  { repository: 'public/*', team: 'dev', actions: ['pull', 'push', 'delete'] },
  { repository: 'team-a/*', team: 'dev', actions: ['pull', 'push', 'delete'] },
  { repository: 'team-a/*', user: 'carol', actions: ['pull'] },
  { repository: 'team-a/secret', authenticated: [] },
  { repository: '*', authenticated: [] },
];
const policy = new AccessPolicy(rules, { dev: ['alice', 'bob'] });
const user = (name: string) => ({ kind: 'user' as const, name });
const sorted = (set: Set<string>) => [...set].sort();

describe('access rules', () => {
  it('gives anonymous callers only what anonymous rules name', () => {
    expect(sorted(policy.actions(ANONYMOUS, 'public/app'))).toEqual(['pull']);
    expect(sorted(policy.actions(ANONYMOUS, 'team-a/app'))).toEqual([]);
    expect(sorted(policy.actions(ANONYMOUS, 'other'))).toEqual([]);
  });

  it('lets the first rule naming the caller decide (teams and users)', () => {
    expect(sorted(policy.actions(user('alice'), 'team-a/app'))).toEqual(['delete', 'pull', 'push']);
    expect(sorted(policy.actions(user('carol'), 'team-a/app'))).toEqual(['pull']);
    // dev's rule comes first for team-a/*, so the later `team-a/secret` rule never decides for alice
    expect(sorted(policy.actions(user('alice'), 'team-a/secret'))).toEqual(['delete', 'pull', 'push']);
    expect(sorted(policy.actions(user('dave'), 'team-a/secret'))).toEqual([]);
  });

  it('gives signed-in callers what anonymous callers get too', () => {
    expect(sorted(policy.actions(user('carol'), 'public/app'))).toEqual(['pull']);
    expect(sorted(policy.actions(user('dave'), 'public/x/y'))).toEqual(['pull']);
  });

  it('defaults to pull+push for signed-in callers and nothing for anonymous ones when no rule decides', () => {
    const open = new AccessPolicy([{ repository: 'public/*', anonymous: ['pull'] }], {});
    expect(sorted(open.actions(user('zed'), 'anything/here'))).toEqual(['pull', 'push']);
    expect(sorted(open.actions(ANONYMOUS, 'anything/here'))).toEqual([]);
    expect(sorted(open.actions(user('zed'), 'public/x'))).toEqual(['pull', 'push']);
  });

  it('matches * across slashes, and everything else literally', () => {
    expect(compileGlob('team-a/*').test('team-a/x/y/z')).toBe(true);
    expect(compileGlob('team-a/*').test('team-ab/x')).toBe(false);
    expect(compileGlob('a.b/*').test('aXb/c')).toBe(false);
    expect(compileGlob('*/app').test('x/y/app')).toBe(true);
    expect(compileGlob('app').test('app2')).toBe(false);
    expect(compileGlob('(a|b)+').test('a')).toBe(false);
  });
});

describe('grants', () => {
  const alice: UserPrincipal = { name: 'alice' };
  const carol: UserPrincipal = { name: 'carol' };

  it('grants the intersection of asked and allowed, one entry per resource, partially', () => {
    const scopes = parseScopes(['repository:team-a/app:pull,push', 'repository:public/x:pull,push,delete', 'registry:catalog:*']);
    expect(grantScopes(policy, carol, scopes)).toEqual([
      { type: 'repository', name: 'team-a/app', actions: ['pull'] },
      { type: 'repository', name: 'public/x', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    expect(grantScopes(policy, undefined, scopes)).toEqual([
      { type: 'repository', name: 'team-a/app', actions: [] },
      { type: 'repository', name: 'public/x', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('expands * to the actions allowed, and never grants unknown actions', () => {
    const scopes = parseScopes(['repository:team-a/app:*', 'repository:team-a/b:admin,pull', 'repository:public/p:*']);
    expect(grantScopes(policy, alice, scopes).map((e) => e.actions)).toEqual([['pull', 'push', 'delete'], ['pull'], ['pull', 'push', 'delete']]);
    expect(grantScopes(policy, carol, scopes).map((e) => e.actions)).toEqual([['pull'], ['pull'], ['pull']]);
  });

  it('grants nothing on names the grammar allows but Berth does not (hosts, ports, upper case)', () => {
    const scopes = parseScopes(['repository:localhost:5000/team-a/app:pull', 'repository:Team/app:pull', 'repository(plugin):team-a/p:pull']);
    expect(grantScopes(policy, alice, scopes)).toEqual([
      { type: 'repository', name: 'localhost:5000/team-a/app', actions: [] },
      { type: 'repository', name: 'Team/app', actions: [] },
      { type: 'repository', name: 'team-a/p', actions: ['pull'] },
    ]);
  });

  it('grants nothing for unknown resource types or registry names', () => {
    const scopes = parseScopes(['registry:admin:*', 'registry:catalog:pull', 'namespace:team-a:pull']);
    expect(grantScopes(policy, alice, scopes).every((e) => e.actions.length === 0)).toBe(true);
  });
});

describe('robot tokens', () => {
  const robot = (scopes: string[]): RobotRecord => ({
    id: 'abcdefghijklmnop',
    user: 'alice',
    scopes: scopes.map(parseRobotScope),
    hash: 'sha256:00',
    created: new Date().toISOString(),
    expires: null,
  });

  it('parses scope patterns and refuses anything else', () => {
    expect(parseRobotScope('repository:team-a/*:pull,push')).toEqual({ type: 'repository', pattern: 'team-a/*', actions: ['pull', 'push'] });
    expect(parseRobotScope('registry:catalog:*')).toEqual({ type: 'registry', pattern: 'catalog', actions: ['*'] });
    for (const bad of ['repository:team-a/*', 'repository:Team/*:pull', 'repository:a:admin', 'registry:catalog:pull', 'user:x:pull', 'repository::pull']) {
      expect(() => parseRobotScope(bad), bad).toThrow(RobotScopeError);
    }
  });

  it('can do at most what its scope says, and never more than its user may', () => {
    const ci: UserPrincipal = { name: 'alice', robot: robot(['repository:team-a/*:pull,push']) };
    expect(sorted(repositoryActions(policy, ci, 'team-a/app'))).toEqual(['pull', 'push']);
    expect(sorted(repositoryActions(policy, ci, 'public/app'))).toEqual([]);
    const carolCi: UserPrincipal = { name: 'carol', robot: { ...robot(['repository:*:*']), user: 'carol' } };
    expect(sorted(repositoryActions(policy, carolCi, 'team-a/app'))).toEqual(['pull']);
    expect(robotAllows(robot(['repository:team-a/*:*']), 'repository', 'team-a/x', 'delete')).toBe(true);
  });

  it('lists the catalog only with registry:catalog:* in its scope', () => {
    expect(catalogAllowed({ name: 'alice', robot: robot(['repository:team-a/*:pull']) })).toBe(false);
    expect(catalogAllowed({ name: 'alice', robot: robot(['repository:team-a/*:pull', 'registry:catalog:*']) })).toBe(true);
    expect(catalogAllowed({ name: 'alice' })).toBe(true);
    expect(catalogAllowed(undefined)).toBe(true);
  });
});
