/**
 * Path patterns of COPY sources and .dockerignore (src/builds/native/patterns.ts): Docker's
 * semantics, checked against a reference regular expression on every small pattern and path, and
 * linear time on the patterns the audit of issue 15 used to freeze the server.
 */
import { describe, expect, it } from 'vitest';
import { compilePattern, hasWildcard, IgnoreMatcher } from '../../src/builds/native/patterns.js';

/** The old translation to a regular expression: the reference for what matches (small inputs only). */
function reference(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      let negated = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negated = true;
        body = body.slice(1);
      }
      const escaped = body.replace(/[\]\\^]/g, (c) => `\\${c}`);
      re += negated ? `[^/${escaped}]` : `[${escaped}]`;
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
  }
  return new RegExp(`^${re}$`, 's');
}

describe('path patterns', () => {
  it.each([
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false],
    ['*', '', true],
    ['dir/*', 'dir/x', true],
    ['dir/*', 'dir/x/y', false],
    ['**/*.js', 'x.js', true],
    ['**/*.js', 'a/b/x.js', true],
    ['**/*.js', 'a/b/x.ts', false],
    ['a/**', 'a/b/c', true],
    ['a/**/z', 'a/z', true],
    ['a/**/z', 'a/b/c/z', true],
    ['a/**/z', 'a/bz', false],
    ['**', 'any/thing/at/all', true],
    ['?.md', 'a.md', true],
    ['?.md', '/.md', false],
    ['[abc].txt', 'b.txt', true],
    ['[!abc].txt', 'b.txt', false],
    ['[!abc].txt', 'd.txt', true],
    ['[^abc].txt', '/.txt', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[]]x', ']x', true],
    ['\\*x', '*x', true],
    ['\\*x', 'ax', false],
    ['[unclosed', '[unclosed', true],
    ['a.b', 'aXb', false],
    ['**/', 'a/', true],
  ])('%s against %s: %s', (pattern, path, want) => {
    expect(compilePattern(pattern).test(path)).toBe(want);
  });

  it('agrees with the reference expression on every small pattern and path', () => {
    const atoms = ['a', 'b', '/', '*', '**', '?', '[ab]', '[!a]', '\\*', '**/', '[a-b]'];
    const texts: string[] = [''];
    for (let length = 1; length <= 5; length++) {
      for (let n = 0; n < 3 ** length; n++) {
        let text = '';
        for (let k = 0, v = n; k < length; k++, v = Math.floor(v / 3)) text += 'ab/'[v % 3];
        texts.push(text);
      }
    }
    texts.push('*a', 'a*b');
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 1500; round++) {
      const pattern = Array.from({ length: 1 + random(4) }, () => atoms[random(atoms.length)]).join('');
      const mine = compilePattern(pattern);
      const theirs = reference(pattern);
      for (const text of texts) expect(mine.test(text), `${pattern} against ${JSON.stringify(text)}`).toBe(theirs.test(text));
    }
  });

  it('matches in linear time what made the old matcher backtrack for minutes', () => {
    const name = 'a'.repeat(40);
    expect(compilePattern('*a*a*a*a*a*a*a*a*a*a*a*a*b').test(name)).toBe(false);
    expect(compilePattern('**a**a**a**a**a**a**a**a**a**a**a**b').test(`${'a/'.repeat(5000)}a`)).toBe(false);
    expect(compilePattern(`${'*'.repeat(1000)}b`).test('a'.repeat(100_000))).toBe(false);
    const ignore = new IgnoreMatcher(`${'*a'.repeat(30)}b\n!${'**a'.repeat(30)}b\n`);
    expect(ignore.excludes(`${'a'.repeat(200)}/${'a'.repeat(200)}`)).toBe(false);
  });

  it('knows a wildcard from a plain path', () => {
    expect(hasWildcard('a/*.txt')).toBe(true);
    expect(hasWildcard('a/[ab]')).toBe(true);
    expect(hasWildcard('a/b.txt')).toBe(false);
  });
});
