/**
 * Path patterns as Docker uses them for COPY/ADD sources and `.dockerignore`: `*` and `?` stay
 * inside one path component, `[...]` is a class (`[!...]` or `[^...]` negated), `**` crosses any
 * number of components (`**` + `/` matches zero or more whole folders), and `\` escapes the next
 * character. Paths are relative, `/`-separated, without a leading `/`.
 *
 * Patterns and file names both come from the repository being built, so matching runs in time
 * linear in the path (times the pattern's length), whatever the pattern: the pattern is compiled
 * to a small automaton and all of its states are followed at once, one character at a time, never
 * backtracking (a regular expression for `*a*a*a...b` took minutes on forty `a`s).
 */
import { posix } from 'node:path';

/** True when `text` has a wildcard character (so it is a pattern, not a plain path). */
export function hasWildcard(text: string): boolean {
  return /[*?[]/.test(text);
}

/** A compiled pattern: whether a whole path matches. */
export interface PathPattern {
  test(path: string): boolean;
}

type Step =
  /** One given character. */
  | { kind: 'char'; char: string }
  /** `?`: one character but `/`. */
  | { kind: 'one' }
  /** `[...]`: one character of the class (a negated class never matches `/`). */
  | { kind: 'class'; ranges: [string, string][]; negated: boolean }
  /** `*`: any run of characters but `/`. */
  | { kind: 'star' }
  /** `**`: any run of characters. */
  | { kind: 'any' }
  /** `**` + `/`, in two states: the entry (may skip both) and the run that must end with `/`. */
  | { kind: 'folders' }
  | { kind: 'folders-run' };

/** A class body (without its brackets and `!`): characters and `a-z` ranges, all literal. */
function classRanges(body: string): [string, string][] {
  const chars = [...body];
  const ranges: [string, string][] = [];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      ranges.push([chars[i]!, chars[i + 2]!]);
      i += 2;
    } else {
      ranges.push([chars[i]!, chars[i]!]);
    }
  }
  return ranges;
}

function compileSteps(pattern: string): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] !== '*') {
        steps.push({ kind: 'star' });
      } else if (pattern[i + 2] === '/') {
        steps.push({ kind: 'folders' }, { kind: 'folders-run' });
        i += 2;
      } else {
        steps.push({ kind: 'any' });
        i += 1;
      }
    } else if (ch === '?') {
      steps.push({ kind: 'one' });
    } else if (ch === '[' && pattern.indexOf(']', i + 2) >= 0) {
      const end = pattern.indexOf(']', i + 2);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      steps.push({ kind: 'class', ranges: classRanges(body), negated });
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) {
      steps.push({ kind: 'char', char: pattern[++i]! });
    } else {
      steps.push({ kind: 'char', char: ch });
    }
  }
  return steps;
}

/** Whether a step that reads one character accepts `char`. */
function accepts(step: Step, char: string): boolean {
  switch (step.kind) {
    case 'char':
      return step.char === char;
    case 'one':
    case 'star':
      return char !== '/';
    case 'class': {
      if (step.negated && char === '/') return false;
      const inside = step.ranges.some(([low, high]) => char >= low && char <= high);
      return inside !== step.negated;
    }
    case 'any':
    case 'folders-run':
      return true;
    case 'folders':
      return false;
  }
}

/** Compiles a pattern matching whole paths. */
export function compilePattern(pattern: string): PathPattern {
  const steps = compileSteps(pattern);
  const end = steps.length;
  /** Adds state `at` and the states reachable from it without reading a character. */
  const enter = (states: Set<number>, at: number): void => {
    if (states.has(at)) return;
    states.add(at);
    const step = steps[at];
    if (step?.kind === 'star' || step?.kind === 'any') enter(states, at + 1);
    if (step?.kind === 'folders') {
      enter(states, at + 1);
      enter(states, at + 2);
    }
  };
  return {
    test(path: string): boolean {
      let states = new Set<number>();
      enter(states, 0);
      for (const char of path) {
        const next = new Set<number>();
        for (const at of states) {
          const step = steps[at];
          if (!step || !accepts(step, char)) continue;
          const loops = step.kind === 'star' || step.kind === 'any' || step.kind === 'folders-run';
          enter(next, loops ? at : at + 1);
          if (step.kind === 'folders-run' && char === '/') enter(next, at + 1);
        }
        if (next.size === 0) return false;
        states = next;
      }
      return states.has(end);
    },
  };
}

interface IgnoreRule {
  pattern: PathPattern;
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
      this.rules.push({ pattern: compilePattern(line), exception });
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
      if (prefixes.some((prefix) => rule.pattern.test(prefix))) excluded = !rule.exception;
    }
    return excluded;
  }
}
