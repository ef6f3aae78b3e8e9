/**
 * Input crafted against the parsers that use regular expressions on what clients and pushers
 * send (the audit of issue 15 asked for every one to be checked): each answers at once, with its
 * usual result. The bound on each call is generous (a second, against seconds to hours before).
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { parseContentRange, parseRangeHeader } from '../../src/api/range.js';
import { parseDockerfile } from '../../src/builds/dockerfile/parser.js';
import { parseRef } from '../../src/builds/github/rules.js';
import { parseTriggerRequest } from '../../src/builds/queue/trigger.js';
import { parseDigest } from '../../src/registry/digest.js';
import { parseDuration } from '../../src/util/duration.js';

const spaces = ' '.repeat(100_000);

/** `run()`'s result (or its error), after checking it did not take long. */
function quick<T>(run: () => T): T {
  const started = performance.now();
  try {
    return run();
  } finally {
    expect(performance.now() - started).toBeLessThan(1000);
  }
}

describe('parsers on crafted input', () => {
  it('a Dockerfile directive line with a long run of spaces', () => {
    const parsed = quick(() => parseDockerfile(`#escape=\`${spaces}x\nFROM scratch\n`));
    expect(parsed.directives.escape).toBe(`\`${spaces}x`.trim());
    expect(quick(() => parseDockerfile(`# syntax = docker/dockerfile:1${spaces}\nFROM scratch\n`)).directives.syntax).toBe('docker/dockerfile:1');
  });

  it('Content-Range and Range headers full of spaces', () => {
    expect(() => quick(() => parseContentRange(`${spaces}x`))).toThrow(/invalid Content-Range/);
    expect(quick(() => parseContentRange(` bytes 0-9/10 `))).toEqual({ start: 0, end: 9 });
    expect(quick(() => parseContentRange('0-9'))).toEqual({ start: 0, end: 9 });
    expect(quick(() => parseRangeHeader(`bytes=${spaces}x`, 100))).toBe('unsatisfiable');
  });

  it('durations, digests and refs', () => {
    expect(quick(() => parseDuration(`1${spaces}x`))).toBeUndefined();
    expect(quick(() => parseDuration(' 30d '))).toBe(30 * 86_400_000);
    expect(() => quick(() => parseDigest(`${'a.'.repeat(50_000)}:x`))).toThrow(/invalid digest/);
    expect(quick(() => parseRef(`refs/heads/${'a'.repeat(100_000)}`))).toBeUndefined();
    expect(parseRef('refs/heads/main')).toEqual({ type: 'branch', name: 'main' });
    expect(() => parseTriggerRequest({ repository: 'acme/hello', branch: 'a'.repeat(300) })).toThrow(/longer than/);
  });
});
