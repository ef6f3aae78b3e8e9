/**
 * Path patterns as Docker uses them for COPY/ADD sources and `.dockerignore`: `*` and `?` stay
 * inside one path component, `[...]` is a class (`[!...]` or `[^...]` negated), `**` crosses any
 * number of components, and `\` escapes the next character. Paths are relative, `/`-separated,
 * without a leading `/`.
 */
import { posix } from 'node:path';

/** True when `text` has a wildcard character (so it is a pattern, not a plain path). */
export function hasWildcard(text: string): boolean {
  return /[*?[]/.test(text);
}

/** Compiles a pattern matching whole paths. */
export function compilePattern(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` matches zero or more whole components; a trailing `**` matches everything.
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
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
    } else if (ch === '\\' && i + 1 < pattern.length) {
      re += escapeRegExp(pattern[++i]!);
    } else {
      re += escapeRegExp(ch);
    }
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
}

interface IgnoreRule {
  regex: RegExp;
  /** A `!pattern`: re-includes what an earlier rule excluded. */
  exception: boolean;
}

/**
 * `.dockerignore`: one pattern a line, `#` comments, `!` exceptions; the last rule matching a path
 * or one of its parent folders decides.
 */
export class IgnoreMatcher {
  private readonly rules: IgnoreRule[];
  /** True when some rule re-includes paths: an excluded folder must still be walked. */
  readonly hasExceptions: boolean;

  constructor(text: string) {
    this.rules = [];
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exception = line.startsWith('!');
      if (exception) line = line.slice(1).trim();
      line = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      if (line === '' || line === '.') continue;
      this.rules.push({ regex: compilePattern(line), exception });
    }
    this.hasExceptions = this.rules.some((rule) => rule.exception);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether `path` (relative) is excluded from the build context. */
  excludes(path: string): boolean {
    if (this.rules.length === 0 || path === '') return false;
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of this.rules) {
      if (prefixes.some((prefix) => rule.regex.test(prefix))) excluded = !rule.exception;
    }
    return excluded;
  }
}
