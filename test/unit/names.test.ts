/** The one grammar for repository names (src/registry/names.ts), and inputs built to make it slow. */
import { describe, expect, it } from 'vitest';
import { isValidHostname, isValidName, isValidQualifiedName, isValidTag } from '../../src/registry/names.js';

describe('repository names', () => {
  it.each(['a', 'app', 'team-a/app', 'a__b/c.d/e-f/g---h', 'a1/b2/c3', 'x'.repeat(255), 'library/alpine', 'a.b_c-d'])('accepts %s', (name) => {
    expect(isValidName(name)).toBe(true);
  });

  it.each([
    '',
    'App',
    'a/',
    '/a',
    'a//b',
    '-a',
    'a-',
    'a_',
    'a___b',
    'a..b',
    'a._b',
    'a-.b',
    'a:b',
    'a b',
    'x'.repeat(256),
    `${'a'.repeat(250)}-`,
    `${'ab/'.repeat(90)}a`,
  ])('refuses %j', (name) => {
    expect(isValidName(name)).toBe(false);
  });

  it('hosts and qualified names', () => {
    expect(isValidHostname('localhost:5000')).toBe(true);
    expect(isValidHostname('Registry.Example.COM')).toBe(true);
    expect(isValidHostname('a-b.c')).toBe(true);
    for (const bad of ['', '-a', 'a-', 'a..b', 'a:', 'a:1:2', 'a:123456', 'a_b', `${'a.'.repeat(200)}a`]) expect(isValidHostname(bad), bad).toBe(false);
    expect(isValidQualifiedName('localhost:5000/foo/bar')).toBe(true);
    expect(isValidQualifiedName('team/app')).toBe(true);
    expect(isValidQualifiedName('Host.example/app')).toBe(true);
    expect(isValidQualifiedName('Host/App')).toBe(false);
    expect(isValidQualifiedName('a:1/b:2')).toBe(false);
  });

  it('tags', () => {
    expect(isValidTag('v1.2.3')).toBe(true);
    expect(isValidTag('_x')).toBe(true);
    expect(isValidTag('.x')).toBe(false);
    expect(isValidTag('x'.repeat(129))).toBe(false);
  });

  it('stays fast on long crafted input (each check is linear in its length)', () => {
    const inputs = [`${'a'.repeat(100_000)}-`, `${'a-'.repeat(50_000)}!`, `${'a.'.repeat(50_000)}-`, `${'a_'.repeat(50_000)}_`];
    for (const input of inputs) {
      expect(isValidName(input)).toBe(false);
      expect(isValidHostname(input)).toBe(false);
      expect(isValidQualifiedName(input)).toBe(false);
    }
  });
});
