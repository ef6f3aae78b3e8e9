/**
 * `/api/builds` and `berth builds` against a real server: list, show, follow a log while it
 * grows, cancel, trigger by hand, queue limit, timeouts, failures, and a restart with builds
 * queued and running. Builds use the fake buildah (test/fixtures/builds/pipeline-fake-buildah).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { FakeGitHub } from '../helpers/fake-github.js';
import { errorCode } from '../helpers/http.js';
import { type BuildsEnv, FIXTURES, linkedRepository, REPO, startBuildsEnv } from './builds-setup.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');

async function berth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('build API', { timeout: 90_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  const shas: Record<string, string> = {};

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    github.repository('acme/private', { token: 'ghp_private' });
    for (const name of ['basic', 'slow', 'fail', 'flood']) {
      shas[name] = await github.commit(REPO, { dir: join(FIXTURES, `pipeline-${name}`) }, { message: `${name} commit`, refs: [`heads/${name}`] });
    }
    github.repository(REPO).refs.set('heads/main', shas.basic!);
    shas.private = await github.commit('acme/private', { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    env = await startBuildsEnv(github, (config) => {
      config.builds.concurrency = 1;
      config.builds.repositories = [
        linkedRepository({ rules: [{ name: 'any', type: 'branch', source: '/.*/', tag: '{sourceref}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }] }),
        linkedRepository({ github: 'acme/private', secret: 'private-secret', image: 'acme/private', token: 'ghp_private' }),
      ];
    });
  });

  afterAll(async () => {
    await env?.close();
    await github?.close();
  });

  const trigger = (body: Record<string, unknown>) => env.client.request('POST', '/api/builds', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  it('triggers a rule by hand, resolving the branch to its commit on GitHub', async () => {
    const res = await trigger({ repository: REPO, branch: 'basic' });
    expect(res.status).toBe(202);
    const [build] = res.json.builds;
    expect(build).toMatchObject({ state: 'queued', sha: shas.basic, commitMessage: 'basic commit', tags: ['basic'], trigger: { kind: 'manual' }, ref: { type: 'branch', name: 'basic' } });
    expect(build.logUrl).toBe(`${env.server.url}/api/builds/${build.id}/logs`);
    expect((await env.waitFor(build.id)).state).toBe('succeeded');
    // By Berth repository name and commit, too; the default branch when no ref is given.
    const bySha = await trigger({ repository: 'acme/hello', sha: shas.basic!.slice(0, 10) });
    expect(bySha.status).toBe(202);
    expect(bySha.json.builds[0]).toMatchObject({ sha: shas.basic, ref: { name: 'main' } });
    await env.waitFor(bySha.json.builds[0].id);
  });

  it('refuses triggers it cannot honour with clear 4xx answers', async () => {
    expect((await trigger({ repository: 'nobody/here' })).status).toBe(404);
    expect((await trigger({ repository: REPO, branch: 'no-such-branch' })).status).toBe(404);
    expect((await trigger({ repository: REPO, rule: 'other' })).json.errors[0].message).toMatch(/rule other of acme\/hello does not build branch main/);
    expect((await trigger({ repository: REPO, branch: 'a', tag: 'b' })).status).toBe(400);
    expect((await trigger({ repository: REPO, sha: 'xyz' })).status).toBe(400);
    expect((await trigger({ repository: REPO, color: 'red' })).status).toBe(400);
    const notJson = await env.client.request('POST', '/api/builds', { body: 'nope' });
    expect(notJson.status).toBe(400);
  });

  it('fetches private sources with the repository token, never sending it to codeload', async () => {
    const res = await trigger({ repository: 'acme/private' });
    expect(res.status).toBe(202);
    expect((await env.waitFor(res.json.builds[0].id)).state).toBe('succeeded');
    expect(github.codeloadAuthorizations).toEqual([]);
  });

  it('follows a log while the build runs, cancels it, and reports error to GitHub', async () => {
    const res = await trigger({ repository: REPO, branch: 'slow' });
    const id = res.json.builds[0].id as string;
    await env.waitFor(id, ['running']);
    const follow = fetch(`${env.server.url}/api/builds/${id}/logs`);
    const response = await follow;
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('STEP 1/1')) text += new TextDecoder().decode((await reader.read()).value);
    // Cancel while following: the stream ends with the build.
    const cancel = await env.client.request('POST', `/api/builds/${id}/cancel`);
    expect([200, 202]).toContain(cancel.status);
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toMatch(/==> cancelled\n$/);
    expect(await env.waitFor(id)).toMatchObject({ state: 'cancelled', error: 'cancelled' });
    const end = Date.now() + 5000;
    while (Date.now() < end && !github.statuses.some((s) => s.sha === shas.slow && s.state === 'error')) await new Promise((r) => setTimeout(r, 50));
    expect(github.statuses.filter((s) => s.sha === shas.slow).map((s) => s.state)).toEqual(['pending', 'error']);
    // Cancelling a finished build changes nothing.
    expect((await env.client.request('POST', `/api/builds/${id}/cancel`)).json.state).toBe('cancelled');
  });

  it('fails a build whose Dockerfile fails, with the reason, and GitHub hears failure', async () => {
    const res = await trigger({ repository: REPO, branch: 'fail' });
    const done = await env.waitFor(res.json.builds[0].id);
    expect(done).toMatchObject({ state: 'failed', failure: 'build' });
    expect(done.error).toMatch(/buildah bud exited with status 1: error: the RUN step exited with status 3/);
    const end = Date.now() + 5000;
    while (Date.now() < end && !github.statuses.some((s) => s.sha === shas.fail && s.state === 'failure')) await new Promise((r) => setTimeout(r, 50));
    const status = github.statuses.find((s) => s.sha === shas.fail && s.state === 'failure')!;
    expect(status.description.length).toBeLessThanOrEqual(140);
    expect(status.description).toMatch(/^Failed: buildah bud exited/);
  });

  it('stores long logs whole up to the cap', async () => {
    const res = await trigger({ repository: REPO, branch: 'flood' });
    const id = res.json.builds[0].id;
    await env.waitFor(id, ['succeeded']);
    const log = (await env.client.get(`/api/builds/${id}/logs?follow=false`)).body.toString();
    expect(log).toContain('output line 0\n');
    expect(log).toContain('output line 2999\n');
  });

  it('lists builds newest first, filters, pages, and 404s unknown ids', async () => {
    const all = (await env.client.get('/api/builds')).json.builds as { id: string; state: string; github: string }[];
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(all.map((b) => b.id)).toEqual([...all.map((b) => b.id)].sort().reverse());
    const failed = (await env.client.get('/api/builds?state=failed')).json.builds as { state: string }[];
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((b) => b.state === 'failed')).toBe(true);
    expect(((await env.client.get('/api/builds?repository=acme/private')).json.builds as { github: string }[]).every((b) => b.github === 'acme/private')).toBe(true);
    const page = await env.client.get('/api/builds?n=2');
    expect(page.json.builds).toHaveLength(2);
    const next = await env.client.get(`/api/builds?n=2&last=${page.json.next}`);
    expect(next.json.builds[0].id).toBe(all[2]!.id);
    expect((await env.client.get('/api/builds?state=bogus')).status).toBe(400);
    const unknown = await env.client.get('/api/builds/20200101-000000000-000000');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('NAME_UNKNOWN');
    expect((await env.client.get('/api/builds/..%2f..%2fetc')).status).toBe(404);
  });

  it('berth builds list|logs|trigger talk to the server', async () => {
    const url = env.server.url;
    const list = await berth(['builds', 'list', '--url', url, '--state', 'succeeded']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+STATE\s+GITHUB/);
    expect(list.stdout).toContain('succeeded');
    const triggered = await berth(['builds', 'trigger', REPO, '--branch', 'basic', '--url', url, '--follow']);
    expect(triggered.code).toBe(0);
    expect(triggered.stdout).toMatch(/queued: acme\/hello:basic from branch basic/);
    expect(triggered.stdout).toMatch(/==> succeeded/);
    const id = /^(\S+) queued/.exec(triggered.stdout)![1]!;
    const logs = await berth(['builds', 'logs', id, '--url', url]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`==> build ${id}`);
    const failedId = ((await env.client.get('/api/builds?state=failed')).json.builds[0] as { id: string }).id;
    expect((await berth(['builds', 'logs', failedId, '--url', url, '--no-follow'])).code).toBe(1);
    const missing = await berth(['builds', 'logs', '20200101-000000000-000000', '--url', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404 NAME_UNKNOWN/);
    const json = await berth(['builds', 'list', '--url', url, '--json', '-n', '1']);
    expect(JSON.parse(json.stdout).builds).toHaveLength(1);
    const none = await berth(['builds', 'list', '--url', url, '--repository', 'acme/nothing-here']);
    expect(none.code).toBe(0);
    expect(none.stderr).toBe(`no builds at ${url} (from --url)\n`);
  });

  it('berth builds list says when the server wants credentials it was not given', async () => {
    const { startAuthServer } = await import('../helpers/auth-server.js');
    const locked = await startAuthServer();
    try {
      const anonymous = await berth(['builds', 'list', '--url', locked.server.url]);
      expect(anonymous.code).toBe(0);
      expect(anonymous.stderr).toMatch(/has auth on and no credentials were given: only public builds are listed/);
    } finally {
      await locked.cleanup();
    }
  });
});

describe('build queue across a restart', { timeout: 90_000 }, () => {
  it('runs builds queued before a restart, and re-runs the one interrupted', async () => {
    const github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    const slow = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-slow') }, { refs: ['heads/slow'] });
    const basic = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-basic') }, { refs: ['heads/main'] });
    const configure = (config: Config) => {
      config.builds.queueLimit = 2;
      config.builds.repositories = [linkedRepository({ rules: [{ name: 'any', type: 'branch', source: '/.*/', tag: '{sourceref}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }] })];
    };
    const first = await startBuildsEnv(github, configure);
    let second: BuildsEnv | undefined;
    try {
      const running = (await first.push('refs/heads/slow', slow)).json.builds[0].id as string;
      await first.waitFor(running, ['running']);
      const queued = [(await first.push('refs/heads/main', basic)).json.builds[0].id, (await first.push('refs/heads/main', basic)).json.builds[0].id] as string[];
      // The queue is full (queueLimit 2): a third is refused, and its delivery can be retried.
      const full = await first.push('refs/heads/main', basic, { delivery: 'retry-me' });
      expect(full.status).toBe(429);
      expect(errorCode(full)).toBe('TOOMANYREQUESTS');
      // A log follower does not hold up the shutdown: its stream ends when the server closes.
      const follower = await fetch(`${first.server.url}/api/builds/${running}/logs`);
      const reading = follower.text();
      const closing = Date.now();
      await first.stop();
      expect(Date.now() - closing).toBeLessThan(5000);
      expect(await reading).toMatch(/==> fetching/);
      const interrupted = JSON.parse((await import('node:fs')).readFileSync(join(first.root, '_berth/builds', running, 'record.json'), 'utf8')) as { state: string; attempt: number };
      expect(interrupted).toMatchObject({ state: 'queued', attempt: 2 });

      // Same storage, a new server: every build runs (the slow one is made quick by cancelling).
      second = await startBuildsEnv(github, configure, { root: first.root, workDir: first.workDir });
      await second.waitFor(running, ['running']);
      await second.client.request('POST', `/api/builds/${running}/cancel`);
      for (const id of queued) expect((await second.waitFor(id)).state).toBe('succeeded');
      const log = (await second.client.get(`/api/builds/${running}/logs`)).body.toString();
      expect(log).toMatch(/attempt 1[\s\S]*interrupted \(Berth shut down while building\): queued again[\s\S]*attempt 2/);
      // The refused delivery, sent again, now builds.
      const retry = await second.push('refs/heads/main', basic, { delivery: 'retry-me' });
      expect(retry.status).toBe(202);
      await second.waitFor(retry.json.builds[0].id);
    } finally {
      await second?.close();
      await first.close();
      await github.close();
    }
  });
});
