/**
 * `POST /webhooks/github` against a real server: signatures, events, rules, redeliveries,
 * limits; builds run with the fake buildah, statuses go to the fake GitHub.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, pushPayload, signedDelivery, type TarEntry } from '../helpers/fake-github.js';
import { errorCode } from '../helpers/http.js';
import { type BuildsEnv, FIXTURES, linkedRepository, REPO, SECRET, startBuildsEnv } from './builds-setup.js';

describe('GitHub webhook', { timeout: 60_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let sha: string;
  let tagSha: string;

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    github.repository('acme/other');
    sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { message: 'first\n\nbody', refs: ['heads/main'] });
    tagSha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['tags/v1.2.3'] });
    env = await startBuildsEnv(github, (config) => {
      config.builds.registryHost = 'berth.test';
      config.builds.source = { maxBytes: 1024 * 1024, maxFiles: 50, maxPathBytes: 1024 * 1024 };
      config.builds.repositories = [
        linkedRepository({
          rules: [
            { name: 'main', type: 'branch', source: 'main', tag: 'latest,edge', dockerfile: 'Dockerfile', context: '', buildArgs: { EXTRA: 'x' } },
            { name: 'release', type: 'tag', source: '/^v([0-9.]+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
          ],
        }),
        linkedRepository({ github: 'acme/other', secret: 'other-secret-2', image: 'acme/other' }),
      ];
    });
  });

  afterAll(async () => {
    await env?.close();
    await github?.close();
  });

  it('answers ping with 200', async () => {
    const res = await env.deliver('ping', { zen: 'Keep it simple.', hook_id: 1, repository: { full_name: REPO } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, repository: REPO, image: 'acme/hello' });
  });

  it('refuses a missing or wrong signature with 401 and queues nothing', async () => {
    const before = (await env.client.get('/api/builds')).json.builds.length;
    const payload = pushPayload({ repository: REPO, ref: 'refs/heads/main', sha });
    const signed = signedDelivery('not-the-secret', 'push', payload);
    const wrong = await env.client.request('POST', '/webhooks/github', { body: signed.body, headers: signed.headers });
    expect(wrong.status).toBe(401);
    expect(errorCode(wrong)).toBe('UNAUTHORIZED');
    const { 'X-Hub-Signature-256': _, ...unsigned } = signed.headers;
    expect((await env.client.request('POST', '/webhooks/github', { body: signed.body, headers: unsigned })).status).toBe(401);
    // Signed right, then changed: the HMAC covers the raw bytes.
    const good = signedDelivery(SECRET, 'push', payload);
    const tampered = Buffer.from(good.body.toString().replace('refs/heads/main', 'refs/heads/mainx'));
    expect((await env.client.request('POST', '/webhooks/github', { body: tampered, headers: good.headers })).status).toBe(401);
    expect((await env.client.get('/api/builds')).json.builds.length).toBe(before);
  });

  it("refuses a payload signed with another linked repository's secret", async () => {
    const res = await env.deliver('push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }), { secret: 'other-secret-2' });
    expect(res.status).toBe(401);
    expect(res.json.errors[0].message).toMatch(/does not belong to the repository/);
    const unlinked = await env.deliver('push', pushPayload({ repository: 'evil/repo', ref: 'refs/heads/main', sha }));
    expect(unlinked.status).toBe(401);
  });

  it('refuses bodies over 25 MiB with 413 before reading them', async () => {
    const big = Buffer.alloc(25 * 1024 * 1024 + 1, 0x20);
    const headers = { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` };
    const res = await env.client.request('POST', '/webhooks/github', { body: big, headers });
    expect(res.status).toBe(413);
  });

  it('answers other events with 204', async () => {
    const res = await env.deliver('issues', { action: 'opened', repository: { full_name: REPO } });
    expect(res.status).toBe(204);
  });

  it('queues a branch push by its rules and answers 202 at once with the build ids', async () => {
    const started = Date.now();
    const res = await env.push('refs/heads/main', sha, { message: 'first\n\nbody' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(202);
    expect(res.json.builds).toHaveLength(1);
    const build = res.json.builds[0];
    expect(build).toMatchObject({ rule: 'main', image: 'acme/hello', tags: ['latest', 'edge'] });
    expect(build.url).toBe(`${env.server.url}/api/builds/${build.id}`);
    const done = await env.waitFor(build.id);
    expect(done).toMatchObject({ state: 'succeeded', github: REPO, sha, ref: { type: 'branch', name: 'main' }, attempt: 1, builder: 'buildah', trigger: { kind: 'webhook' } });
    expect(done.buildArgs).toEqual(['COMMIT_MSG', 'DOCKERFILE_PATH', 'DOCKER_REPO', 'DOCKER_TAG', 'EXTRA', 'IMAGE_NAME', 'SOURCE_BRANCH', 'SOURCE_COMMIT']);
    const log = (await env.client.get(`/api/builds/${build.id}/logs`)).body.toString();
    expect(log).toContain(`build-arg SOURCE_COMMIT=${sha}`);
    expect(log).toContain('build-arg SOURCE_BRANCH=main');
    expect(log).toContain('build-arg IMAGE_NAME=berth.test/acme/hello:latest');
    expect(log).toContain('build-arg COMMIT_MSG=first');
    expect(log).toContain('pushing to docker://127.0.0.1:');
    expect(log).toMatch(/==> succeeded\n$/);
    // Statuses: pending when queued, success at the end, with the rule as context.
    await expectStatuses(sha, 'berth/main', ['pending', 'success'], build.id);
    expect(github.codeloadAuthorizations).toEqual([]);
    // The work dir is empty again: the source and buildah's folder were removed.
    expect(readdirSync(env.workDir)).toEqual([]);
  });

  async function expectStatuses(commit: string, context: string, states: string[], id: string): Promise<void> {
    const end = Date.now() + 5000;
    let seen: string[] = [];
    while (Date.now() < end) {
      const mine = github.statuses.filter((s) => s.sha === commit && s.context === context);
      seen = mine.map((s) => s.state);
      if (seen.length >= states.length) {
        expect(mine[0]!.target_url).toBe(`${env.server.url}/builds/${id}`); // the console's build page
        expect(mine[0]!.authorization).toBe('Bearer ghp_test_token');
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toEqual(states);
  }

  it('builds a tag push v1.2.3 as 1.2.3 by the regex rule', async () => {
    const res = await env.push('refs/tags/v1.2.3', tagSha);
    expect(res.status).toBe(202);
    expect(res.json.builds.map((b: { rule: string; tags: string[] }) => [b.rule, b.tags])).toEqual([['release', ['1.2.3']]]);
    await env.waitFor(res.json.builds[0].id, ['succeeded']);
  });

  it('does not build a redelivery twice', async () => {
    const delivery = '7b3e1b70-0000-11ee-8000-000000000001';
    const first = await env.push('refs/heads/main', sha, { delivery });
    expect(first.status).toBe(202);
    const again = await env.push('refs/heads/main', sha, { delivery });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ duplicate: true, builds: first.json.builds.map((b: { id: string }) => b.id) });
    const mine = (await env.client.get('/api/builds?n=1000')).json.builds.filter((b: { trigger: { delivery?: string } }) => b.trigger.delivery === delivery);
    expect(mine).toHaveLength(1);
    await env.waitFor(first.json.builds[0].id);
  });

  it('builds nothing for deleted refs, unmatched refs, and non-branch refs', async () => {
    const deleted = await env.deliver('push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha, deleted: true }));
    expect(deleted.status).toBe(202);
    expect(deleted.json).toMatchObject({ builds: [], message: expect.stringMatching(/deleted/) });
    const unmatched = await env.push('refs/heads/feature', sha);
    expect(unmatched.json).toMatchObject({ builds: [], message: 'no build rule matches branch feature' });
    const other = await env.push('refs/notes/x', sha);
    expect(other.json.builds).toEqual([]);
  });

  it('accepts form-encoded deliveries (payload=...)', async () => {
    const json = JSON.stringify({ zen: 'x', repository: { full_name: REPO } });
    const body = Buffer.from(`payload=${encodeURIComponent(json)}`);
    const signed = signedDelivery(SECRET, 'ping', {});
    const { createHmac } = await import('node:crypto');
    const headers = { ...signed.headers, 'Content-Type': 'application/x-www-form-urlencoded', 'X-Hub-Signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` };
    const res = await env.client.request('POST', '/webhooks/github', { body, headers });
    expect(res.status).toBe(200);
  });

  describe('hostile sources', () => {
    const evil = `evil-${process.pid}-${Date.now()}`;
    const top = 'acme-hello-0000000';
    const cases: [string, TarEntry[], RegExp][] = [
      ['../ entries', [{ name: `${top}/`, type: 'directory' }, { name: `${top}/Dockerfile`, content: 'FROM scratch\n' }, { name: `${top}/../../../../${evil}`, content: 'x' }], /\.\. in path/],
      ['absolute paths', [{ name: `/tmp/${evil}`, content: 'x' }], /absolute path/],
      ['symlink escapes', [{ name: `${top}/Dockerfile`, type: 'symlink', linkname: '../../../../etc/passwd' }], /points outside/],
      ['a huge file count', Array.from({ length: 60 }, (_, i) => ({ name: `${top}/f${i}`, content: 'x' })), /more than 50 entries/],
      ['a huge file', [{ name: `${top}/big`, size: 2 * 1024 * 1024 }], /more than 1048576 bytes/],
    ];
    it.each(cases)('fail the build for %s, writing nothing outside the context', async (_what, entries, message) => {
      const sha = await github.commit(REPO, { entries }, { refs: ['heads/main'] });
      const res = await env.push('refs/heads/main', sha);
      expect(res.status).toBe(202);
      const done = await env.waitFor(res.json.builds[0].id);
      expect(done).toMatchObject({ state: 'failed', failure: 'build' });
      expect(done.error).toMatch(message);
      expect(existsSync(join('/tmp', evil))).toBe(false);
      expect(existsSync(join(env.workDir, '..', evil))).toBe(false);
      expect(readdirSync(env.workDir)).toEqual([]);
      const end = Date.now() + 5000;
      while (Date.now() < end && !github.statuses.some((s) => s.sha === sha && s.state === 'failure')) await new Promise((r) => setTimeout(r, 50));
      expect(github.statuses.filter((s) => s.sha === sha).map((s) => s.state)).toEqual(['pending', 'failure']);
    });

    it('fails a build whose repository has no Dockerfile where the rule says', async () => {
      const sha = await github.commit(REPO, { entries: [{ name: `${top}/`, type: 'directory' }, { name: `${top}/README`, content: 'x' }] }, { refs: ['heads/main'] });
      const done = await env.waitFor((await env.push('refs/heads/main', sha)).json.builds[0].id);
      expect(done.error).toBe('no Dockerfile in the build context "/"');
    });
  });

  it('answers 400 to a signed push without a delivery id or commit', async () => {
    const signed = signedDelivery(SECRET, 'push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }));
    const { 'X-GitHub-Delivery': _, ...headers } = signed.headers;
    expect((await env.client.request('POST', '/webhooks/github', { body: signed.body, headers })).status).toBe(400);
    const bad = await env.deliver('push', { ...pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }), after: 'nope' });
    expect(bad.status).toBe(400);
  });
});
