/**
 * Generated GitHub webhook deliveries against a real server (builds with the fake GitHub and the
 * fake buildah): signed and unsigned, JSON and form-encoded, push payloads with every field
 * bent, and arbitrary JSON. Never a 5xx; every error the OCI JSON.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../helpers/fake-github.js';
import { type RawReply, rawRequest } from '../helpers/hostile-http.js';
import { type BuildsEnv, FIXTURES, linkedRepository, REPO, SECRET, startBuildsEnv } from './builds-setup.js';

describe('hostile webhook deliveries', { timeout: 120_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let sha: string;

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    env = await startBuildsEnv(github, (config) => {
      config.builds.repositories = [
        linkedRepository({
          rules: [
            { name: 'main', type: 'branch', source: 'main', tag: 'latest', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
            { name: 'release', type: 'tag', source: '/^v([0-9.]+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
            { name: 'any', type: 'branch', source: '/^(feature)-(.*)$/', tag: '{\\2}-{sourceref}', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
          ],
        }),
      ];
    });
  });

  afterAll(async () => {
    await env?.close();
    await github?.close();
  });

  it('never fails with a 5xx on generated deliveries', async () => {
    const ref = fc.oneof(
      fc.constantFrom('refs/heads/main', 'refs/tags/v1.2.3', 'refs/heads/feature-x', 'refs/heads/', 'refs/tags/', 'refs/pull/1/head', 'main', ''),
      fc.tuple(fc.constantFrom('refs/heads/', 'refs/tags/'), fc.string({ maxLength: 300 })).map(([p, n]) => p + n),
      fc.anything(),
    );
    const after = fc.oneof(fc.constant(sha), fc.stringMatching(/^[0-9a-f]{40}$/), fc.constantFrom('0'.repeat(40), '', 'zz'), fc.anything());
    const push = fc.record(
      {
        ref,
        after,
        deleted: fc.oneof(fc.boolean(), fc.anything()),
        head_commit: fc.oneof(fc.constant(null), fc.record({ message: fc.oneof(fc.string({ maxLength: 200 }), fc.constant('[skip ci]'), fc.anything()) }), fc.anything()),
        repository: fc.oneof(
          { arbitrary: fc.record({ full_name: fc.constantFrom(REPO, REPO.toUpperCase()), default_branch: fc.oneof(fc.constantFrom('main', 'feature-y'), fc.anything()) }), weight: 6 },
          { arbitrary: fc.record({ full_name: fc.oneof(fc.constantFrom('acme/other', ''), fc.anything()) }), weight: 1 },
          { arbitrary: fc.anything(), weight: 1 },
        ),
      },
      { requiredKeys: ['repository'] },
    );
    const payload = fc.oneof({ arbitrary: push, weight: 4 }, { arbitrary: fc.anything(), weight: 1 });
    const delivery = fc.record({
      payload,
      event: fc.oneof(fc.constantFrom('push', 'push', 'ping', 'pull_request', ''), fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''))),
      deliveryId: fc.oneof(fc.uuid(), fc.constantFrom('', 'x'.repeat(300), '../../etc'), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x21-\x7e]/g, ''))),
      signed: fc.constantFrom('right', 'right', 'right', 'wrong', 'none', 'garbage'),
      form: fc.boolean(),
    });
    let cases = 0;
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(delivery, async (d) => {
        cases += 1;
        const json = JSON.stringify(d.payload) ?? 'null';
        const body = Buffer.from(d.form ? new URLSearchParams({ payload: json }).toString() : json);
        const headers: Record<string, string> = {
          'Content-Type': d.form ? 'application/x-www-form-urlencoded' : 'application/json',
          'X-GitHub-Event': d.event,
          'X-GitHub-Delivery': d.deliveryId,
        };
        const secret = d.signed === 'wrong' ? 'not-the-secret' : SECRET;
        if (d.signed === 'garbage') headers['X-Hub-Signature-256'] = `sha256=${randomBytes(8).toString('hex')}`;
        else if (d.signed !== 'none') headers['X-Hub-Signature-256'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
        const reply = (await rawRequest(env.server.url, undefined, { method: 'POST', path: '/webhooks/github', headers, body })) as RawReply;
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
        expect(reply.status, `${json.slice(0, 300)} -> ${reply.body.toString().slice(0, 300)}`).toBeLessThan(500);
        if (reply.status >= 400) expect(JSON.parse(reply.body.toString()).errors[0].code).toMatch(/^[A-Z_]+$/);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000) / 2, interruptAfterTimeLimit: 60_000 },
    );
    console.log(`generated webhook deliveries: ${cases}, statuses`, statuses);
    // Both sides were reached: refused deliveries and accepted ones.
    expect(Object.keys(statuses).some((s) => Number(s) < 300)).toBe(true);
    expect(Object.keys(statuses).some((s) => Number(s) >= 400)).toBe(true);
    const unexpected = env.server.logs.filter((line) => line.msg === 'unexpected error');
    expect(unexpected.map((l) => JSON.stringify(l).slice(0, 400))).toEqual([]);
  });
});
