/**
 * The native builder never holds the server's event loop (issue 15, item 6): the audit's COPY
 * pattern finishes at once, and a build whose pattern matching takes seconds (linear, but over a
 * big pattern and many long names) runs on its own thread while /v2/ answers. (That a thread which
 * stops listening is still stopped at the timeout is test/unit/builds-native-thread.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestBlock } from '../helpers/event-loop.js';
import { FakeGitHub, type TarEntry } from '../helpers/fake-github.js';
import { type BuildsEnv, linkedRepository, REPO, startBuildsEnv } from './builds-setup.js';

const AUDIT = 'FROM scratch\nCOPY *a*a*a*a*a*a*a*a*a*a*a*a*b /x/\n';
/** Linear matching, but of a long pattern against many long names: seconds of CPU, wherever it runs. */
const HEAVY = `FROM scratch\nCOPY ${'*a'.repeat(2000)}b /x/\n`;

describe('native builds off the event loop', { timeout: 120_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;

  const context = (dockerfile: string, files: number): TarEntry[] => [
    { name: 'top/', type: 'directory' },
    { name: 'top/Dockerfile', content: dockerfile },
    ...Array.from({ length: files }, (_, i): TarEntry => ({ name: `top/${'a'.repeat(files > 1 ? 250 : 40)}${i}`, content: 'x' })),
  ];

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO);
    await github.commit(REPO, { entries: context(AUDIT, 1) }, { refs: ['heads/audit'] });
    await github.commit(REPO, { entries: context(HEAVY, 1000) }, { refs: ['heads/heavy'] });
    env = await startBuildsEnv(github, (config) => {
      config.builds.builder = 'native';
      config.builds.repositories = [
        linkedRepository({ rules: [{ name: 'any', type: 'branch', source: '/^(.+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }] }),
      ];
    });
  });
  afterAll(async () => {
    await env?.close();
    await github?.close();
  });

  const build = async (branch: string): Promise<Record<string, any>> => {
    const res = await env.push(`refs/heads/${branch}`, github.repository(REPO).refs.get(`heads/${branch}`)!);
    expect(res.status).toBe(202);
    return env.waitFor(res.json.builds[0].id, ['succeeded', 'failed', 'cancelled'], 60_000);
  };

  it("finishes the audit's build at once: its pattern matches nothing", async () => {
    const { result, maxBlockMs } = await longestBlock(() => build('audit'));
    expect(result.state).toBe('failed');
    expect(result.error).toMatch(/COPY/);
    expect(maxBlockMs).toBeLessThan(2000);
  });

  it('answers /v2/ while a slow build runs', async () => {
    let answered = 0;
    let building = true;
    const { result, maxBlockMs } = await longestBlock(async () => {
      const pinging = (async () => {
        while (building) {
          expect((await env.client.get('/v2/')).status).toBe(200);
          answered += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      try {
        return await build('heavy');
      } finally {
        building = false;
        await pinging;
      }
    });
    // It got as far as the COPY (matching all 1000 names), on the native builder.
    expect(result).toMatchObject({ state: 'failed', builder: 'native' });
    expect(result.error).toMatch(/COPY/);
    expect(answered).toBeGreaterThan(3);
    expect(maxBlockMs).toBeLessThan(2000);
  });
});
