/** The scope grammar of distribution's scope.md, and the crafted strings it must refuse. */
import { describe, expect, it } from 'vitest';
import { formatGranted, MAX_SCOPES, parseScope, parseScopes, ScopeError } from '../../src/auth/scope.js';

describe('scope grammar', () => {
  it.each([
    ['repository:samalba/my-app:pull,push', { type: 'repository', name: 'samalba/my-app', actions: ['pull', 'push'] }],
    ['repository:app:pull', { type: 'repository', name: 'app', actions: ['pull'] }],
    ['repository:a/b/c:*', { type: 'repository', name: 'a/b/c', actions: ['*'] }],
    ['registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    // a hostname with a port: the name holds one more colon
    ['repository:localhost:5000/foo/bar:pull', { type: 'repository', name: 'localhost:5000/foo/bar', actions: ['pull'] }],
    ['repository:registry.example.com/team/app:push', { type: 'repository', name: 'registry.example.com/team/app', actions: ['push'] }],
    ['repository:Example.COM:443/app:pull', { type: 'repository', name: 'Example.COM:443/app', actions: ['pull'] }],
    ['repository:a__b/c.d/e-f/g---h:pull', { type: 'repository', name: 'a__b/c.d/e-f/g---h', actions: ['pull'] }],
    // the deprecated resource class is accepted and ignored
    ['repository(plugin):vieux/sshfs:pull', { type: 'repository', name: 'vieux/sshfs', actions: ['pull'] }],
    // empty and repeated actions
    ['repository:app:', { type: 'repository', name: 'app', actions: [] }],
    ['repository:app:pull,,pull,push', { type: 'repository', name: 'app', actions: ['pull', 'push'] }],
  ])('parses %s', (text, want) => {
    expect(parseScope(text)).toEqual(want);
  });

  it.each([
    ['no actions part', 'repository:app'],
    ['no type', ':app:pull'],
    ['an upper-case type', 'Repository:app:pull'],
    ['a class with symbols', 'repository(plug-in):app:pull'],
    ['a glob name', 'repository:team-a/*:pull'],
    ['a name with ..', 'repository:public/../team-a/x:pull'],
    ['an upper-case path component', 'repository:team/App:pull'],
    ['a leading slash', 'repository:/team-a/x:pull'],
    ['a trailing slash', 'repository:team-a/:pull'],
    ['two names in one', 'repository:public/x,team-a/y:pull'],
    ['a colon inside a path component', 'repository:team-a/x:y/z:pull'],
    ['two ports', 'repository:a:1:2/x:pull'],
    ['a name smuggling actions', 'repository:team-a/x:pull,push:pull'],
    ['an upper-case action', 'repository:app:PUSH'],
    ['an action with digits', 'repository:app:push2'],
    ['a NUL', 'repository:app\u0000:pull'],
    ['a newline', 'repository:app\n:pull'],
    ['a unicode lookalike', 'repository:tеam-a/x:pull'],
    ['a percent-encoded slash', 'repository:team-a%2Fx:pull'],
    ['an over-long scope', `repository:${'a'.repeat(700)}:pull`],
    ['an over-long name', `repository:${'a'.repeat(256)}:pull`],
    // Built to make a backtracking matcher take forever (issue 15): refused, and at once.
    ['a run of letters ending in a dash', `repository:${'a'.repeat(250)}-:pull`],
    ['many components ending in a dash', `repository:${'ab/'.repeat(80)}a-:pull`],
    ['a host, then a run ending in a dash', `repository:h.example.com:5000/${'a'.repeat(200)}-:pull`],
    ['a long dotted host ending in a dash', `repository:${'a.'.repeat(150)}a-/x:pull`],
    ['separators all the way', `repository:a${'-_.'.repeat(60)}a:pull`],
  ])('refuses %s', (_why, text) => {
    expect(() => parseScope(text)).toThrow(ScopeError);
  });

  it('splits space-separated lists (POST) and repeated values (GET), merging one resource', () => {
    expect(parseScopes(['repository:a:pull repository:b:push', 'repository:a:push', ''])).toEqual([
      { type: 'repository', name: 'a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: ['push'] },
    ]);
  });

  it('refuses a list where any one scope is bad, and too many scopes', () => {
    expect(() => parseScopes(['repository:a:pull repository:*:push'])).toThrow(ScopeError);
    const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r${i}:pull`);
    expect(() => parseScopes(many)).toThrow(/too many scopes/);
  });

  it('formats the granted scope of an OAuth2 reply, leaving out empty grants', () => {
    expect(
      formatGranted([
        { type: 'repository', name: 'a', actions: ['pull', 'push'] },
        { type: 'repository', name: 'b', actions: [] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]),
    ).toBe('repository:a:pull,push registry:catalog:*');
  });
});
