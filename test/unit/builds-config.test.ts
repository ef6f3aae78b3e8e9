import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { matchRules } from '../../src/builds/github/rules.js';
import { loadConfig } from '../../src/config.js';
import { tempDir } from '../helpers/tmp.js';

describe('builds config', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir('berth-builds-config-');
  });
  afterEach(async () => dir.remove());

  async function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
    const file = join(dir.path, 'berth.yaml');
    await writeFile(file, yaml);
    return loadConfig({ file, env }).builds;
  }

  it('has defaults for every key', async () => {
    const builds = await load('');
    expect(builds).toMatchObject({ builder: 'auto', buildah: 'buildah', concurrency: 1, queueLimit: 100, timeoutSeconds: 3600, retentionDays: 30, publicUrl: '', registryHost: '', repositories: [] });
    expect(builds.source).toEqual({ maxBytes: 1024 ** 3, maxFiles: 100_000, maxPathBytes: 16 * 1024 ** 2 });
    expect(builds.logs.maxBytes).toBe(4 * 1024 * 1024);
  });

  it('reads linked repositories and rules, with defaults and quoted templates', async () => {
    const builds = await load(`
builds:
  workDir: work
  github: { api: https://ghe.example.com/api/v3, token: t0ken }
  repositories:
    - github: acme/hello
      secret: a-long-secret
      image: acme/hello
      pull: ["base/*"]
      rules:
        - { name: release, type: tag, source: '/^v([0-9.]+)$/', tag: '{\\1}', dockerfile: docker/Dockerfile, context: /app/, buildArgs: { A: b } }
        - { type: branch, source: main }
`);
    expect(builds.workDir).toBe(join(dir.path, 'work'));
    expect(builds.repositories[0]).toEqual({
      github: 'acme/hello',
      secret: 'a-long-secret',
      image: 'acme/hello',
      token: '',
      pull: ['base/*'],
      rules: [
        { name: 'release', type: 'tag', source: '/^v([0-9.]+)$/', tag: '{\\1}', dockerfile: 'docker/Dockerfile', context: 'app', buildArgs: { A: 'b' } },
        { name: 'rule2', type: 'branch', source: 'main', tag: 'latest', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
      ],
    });
  });

  it('reads config/examples/builds.yaml, whose release rule tags v1.2.3 as 1.2.3, 1.2 and latest', () => {
    const builds = loadConfig({ file: join(import.meta.dirname, '../../config/examples/builds.yaml'), env: {} }).builds;
    const api = builds.repositories.find((r) => r.github === 'acme/api')!;
    expect(matchRules(api.rules, { type: 'tag', name: 'v1.2.3' }).map((m) => m.tags)).toEqual([['1.2.3', '1.2', 'latest']]);
    expect(matchRules(api.rules, { type: 'branch', name: 'main' }).map((m) => m.tags)).toEqual([['edge', 'main']]);
    expect(api.rules[1]).toMatchObject({ context: 'services/api', dockerfile: 'docker/Dockerfile.prod' });
  });

  it('takes scalar keys from the environment', async () => {
    const builds = await load('', { BERTH_BUILDS_CONCURRENCY: '3', BERTH_BUILDS_SOURCE_MAXFILES: '10', BERTH_BUILDS_GITHUB_TOKEN: 'x' });
    expect(builds.concurrency).toBe(3);
    expect(builds.source.maxFiles).toBe(10);
    expect(builds.github.token).toBe('x');
  });

  it.each([
    ['builds:\n  repositories:\n    - { github: acme, secret: long-enough, image: a/b }', /repositories\[0\]\.github: must be owner\/repo/],
    ['builds:\n  repositories:\n    - { github: a/b, secret: short, image: a/b }', /repositories\[0\]\.secret: must be at least 8/],
    ['builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: A/B }', /repositories\[0\]\.image: must be a repository name/],
    ["builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b, rules: [{ type: tag, source: '/(/' }] }", /rules\[0\]\.source: invalid regular expression/],
    ["builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b, rules: [{ type: tag, source: v1, tag: '{\\1}' }] }", /rules\[0\]\.tag: \{\\N\} needs a \/regex\/ source/],
    ["builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b, rules: [{ type: tag, source: v1, tag: '{branch}' }] }", /rules\[0\]\.tag: unknown template/],
    ['builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b, rules: [{ type: tag, source: v1, context: ../up }] }', /rules\[0\]\.context: must stay inside/],
    ['builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b, rules: [{ type: push, source: v1 }] }', /rules\[0\]\.type: must be branch or tag/],
    ['builds:\n  repositories:\n    - { github: a/b, secret: long-enough, image: a/b }\n    - { github: A/B, secret: long-enough, image: a/c }', /repositories\[1\]\.github: A\/B is linked twice/],
    ['builds:\n  concurrency: 0', /builds\.concurrency: must be at least 1/],
    ['builds:\n  publicUrl: ftp://x', /builds\.publicUrl/],
  ])('refuses %#, naming the key', async (yaml, message) => {
    await expect(load(yaml)).rejects.toThrow(message);
  });
});
