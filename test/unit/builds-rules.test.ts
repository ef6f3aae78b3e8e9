import { describe, expect, it } from 'vitest';
import { AUTOMATIC_BUILD_ARGS } from '../../src/builds/builder.js';
import type { BuildRule } from '../../src/builds/config.js';
import { planBuilds } from '../../src/builds/github/plans.js';
import { buildArgs, defaultRules, matchRules, parseRef, renderTags, sanitizeTag } from '../../src/builds/github/rules.js';

function rule(partial: Partial<BuildRule> & Pick<BuildRule, 'type' | 'source'>): BuildRule {
  return { name: 'r', tag: 'latest', dockerfile: 'Dockerfile', context: '', buildArgs: {}, ...partial };
}

describe('build rules', () => {
  it('parses branch and tag refs, nothing else', () => {
    expect(parseRef('refs/heads/main')).toEqual({ type: 'branch', name: 'main' });
    expect(parseRef('refs/heads/feature/x')).toEqual({ type: 'branch', name: 'feature/x' });
    expect(parseRef('refs/tags/v1.2.3')).toEqual({ type: 'tag', name: 'v1.2.3' });
    expect(parseRef('refs/pull/1/head')).toBeUndefined();
    expect(parseRef('main')).toBeUndefined();
  });

  it('defaults: the default branch as latest, tag X as X, other branches nothing', () => {
    const rules = defaultRules('trunk');
    expect(matchRules(rules, { type: 'branch', name: 'trunk' }).map((m) => m.tags)).toEqual([['latest']]);
    expect(matchRules(rules, { type: 'branch', name: 'main' })).toEqual([]);
    expect(matchRules(rules, { type: 'tag', name: 'v2.0' }).map((m) => m.tags)).toEqual([['v2.0']]);
  });

  it('matches a branch by name only for branch rules', () => {
    const rules = [rule({ type: 'branch', source: 'main', tag: 'edge' })];
    expect(matchRules(rules, { type: 'branch', name: 'main' }).map((m) => m.tags)).toEqual([['edge']]);
    expect(matchRules(rules, { type: 'tag', name: 'main' })).toEqual([]);
    expect(matchRules(rules, { type: 'branch', name: 'mainline' })).toEqual([]);
  });

  it('tag push v1.2.3 with /^v([0-9.]+)$/ -> {\\1} gives 1.2.3', () => {
    const rules = [rule({ type: 'tag', source: '/^v([0-9.]+)$/', tag: '{\\1}' })];
    expect(matchRules(rules, { type: 'tag', name: 'v1.2.3' }).map((m) => m.tags)).toEqual([['1.2.3']]);
    expect(matchRules(rules, { type: 'tag', name: 'release-1' })).toEqual([]);
  });

  it('expands {sourceref}, groups, several tags, and makes tags valid', () => {
    const ref = { type: 'branch' as const, name: 'release/2.1' };
    expect(renderTags('{sourceref}', ref)).toEqual(['release-2.1']);
    expect(renderTags('latest, {sourceref} ,latest', ref)).toEqual(['latest', 'release-2.1']);
    expect(renderTags('{\\1}-{\\2}', ref, ['release/2.1', '2', '1'])).toEqual(['2-1']);
    expect(renderTags('{\\3}', ref, ['x'])).toEqual([]);
    expect(sanitizeTag('..-x')).toBe('x');
    expect(sanitizeTag('a'.repeat(200))).toHaveLength(128);
    const rules = [rule({ type: 'branch', source: '/^release\\/(\\d+)\\.(\\d+)$/', tag: '{\\1}.{\\2},{\\1}' })];
    expect(matchRules(rules, ref).map((m) => m.tags)).toEqual([['2.1', '2']]);
  });

  it('lets several rules fire for one push', () => {
    const rules = [rule({ name: 'a', type: 'branch', source: 'main', tag: 'latest' }), rule({ name: 'b', type: 'branch', source: '/.*/', tag: '{sourceref}' })];
    expect(matchRules(rules, { type: 'branch', name: 'main' }).map((m) => [m.rule.name, m.tags])).toEqual([
      ['a', ['latest']],
      ['b', ['main']],
    ]);
  });

  it("provides Docker Hub's build variables, a rule's own args winning", () => {
    const args = buildArgs({
      ref: { type: 'tag', name: 'v1' },
      sha: 'a'.repeat(40),
      commitMessage: 'fix: things\n\nmore',
      image: 'acme/hello',
      registryHost: 'registry.example.com',
      tags: ['1', 'latest'],
      dockerfile: 'docker/Dockerfile',
      rule: rule({ type: 'tag', source: 'v1', buildArgs: { EXTRA: 'yes', DOCKER_TAG: 'mine' } }),
    });
    expect(args).toEqual({
      SOURCE_BRANCH: 'v1',
      SOURCE_COMMIT: 'a'.repeat(40),
      COMMIT_MSG: 'fix: things\n\nmore',
      DOCKER_REPO: 'registry.example.com/acme/hello',
      DOCKER_TAG: 'mine',
      IMAGE_NAME: 'registry.example.com/acme/hello:1',
      DOCKERFILE_PATH: 'docker/Dockerfile',
      EXTRA: 'yes',
    });
    // The builders stay quiet about exactly these when a Dockerfile does not declare them.
    expect(Object.keys(args).filter((key) => key !== 'EXTRA').sort()).toEqual([...AUTOMATIC_BUILD_ARGS].sort());
  });

  it('plans builds for a push with the linked repository, rule by rule', () => {
    const linked = {
      github: 'acme/hello',
      secret: 's'.repeat(8),
      image: 'acme/hello',
      token: '',
      pull: [],
      rules: [rule({ name: 'release', type: 'tag', source: '/^v(.*)$/', tag: '{\\1},latest', context: 'app', dockerfile: 'Dockerfile.prod' })],
    };
    const plans = planBuilds(linked, { ref: { type: 'tag', name: 'v3' }, sha: 'b'.repeat(40), commitMessage: 'm', defaultBranch: 'main', trigger: { kind: 'manual' } }, 'berth.test');
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({ github: 'acme/hello', image: 'acme/hello', rule: 'release', tags: ['3', 'latest'], context: 'app', dockerfile: 'Dockerfile.prod' });
    expect(plans[0]!.buildArgs.IMAGE_NAME).toBe('berth.test/acme/hello:3');
    expect(planBuilds(linked, { ref: { type: 'tag', name: 'v3' }, sha: 'b'.repeat(40), commitMessage: '', defaultBranch: 'main', trigger: { kind: 'manual' }, rule: 'other' }, '')).toEqual([]);
  });
});
