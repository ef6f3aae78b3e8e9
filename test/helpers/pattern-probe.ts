/**
 * Compiles a COPY/.dockerignore pattern and matches a path with it, the way the native builder
 * does: run in a worker by test/unit/fuzz-parsers.test.ts so that a backtracking pattern can be
 * stopped. A pattern refused with an error is fine here; only the time it takes is under test.
 */
import { compilePattern, IgnoreMatcher } from '../../src/builds/native/patterns.js';

export function probe(pattern: string, path: string): void {
  try {
    compilePattern(pattern).test(path);
    new IgnoreMatcher(pattern).excludes(path);
  } catch {
    // refused: not what this probe measures
  }
}
