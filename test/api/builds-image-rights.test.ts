/**
 * What a native build may read (issue 15, item 2), against a real server with token auth: the
 * audit's Dockerfiles, each pushed to a linked repository whose builds may pull nothing private,
 * try to copy a file out of a private image into a public one. Every one fails, and nothing
 * private lands in the public repository. Whoever triggers a build by hand gains no pull on
 * anything either: the build reads at most what that caller may pull. The buildah builder gets
 * credentials only for the Berth images it may pull, and refuses the others before it starts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeBuilder } from '../../src/builds/native/builder.js';
import { basic, PASSWORDS, teamAuth, writeUsersFile } from '../helpers/auth-server.js';
import { FakeGitHub, pushPayload, type TarEntry } from '../helpers/fake-github.js';
import { buildRequest } from '../helpers/native-build.js';
import { tempDir } from '../helpers/tmp.js';
import { type BuildsEnv, linkedRepository, REPO, startBuildsEnv } from './builds-setup.js';

const APP = 'acme/app';

/** The audit's Dockerfiles, and variations on quoting, escapes, variables, hosts and ONBUILD. */
const ATTACKS: Record<string, string> = {
  'copy-from': 'FROM scratch\nCOPY --from=secret/app:v1 /secret.txt /stolen.txt\n',
  quoted: 'FROM "secret/app:v1"\n',
  'single-quoted': "FROM 'secret/app:v1'\n",
  escaped: 'FROM sec\\ret/app:v1\n',
  'from-arg': 'ARG BASE=secret/app:v1\nFROM $BASE\n',
  'from-arg-braces': 'ARG NS=secret\nFROM ${NS}/app:${TAG:-v1}\n',
  'copy-from-arg': 'FROM scratch\nARG SRC=secret/app:v1\nCOPY --from=$SRC /secret.txt /stolen.txt\n',
  'copy-from-env': 'FROM scratch\nENV SRC="secret/app:v1"\nCOPY --from=${SRC} /secret.txt /stolen.txt\n',
  'with-host': 'FROM registry.example.com:5000/secret/app:v1\n',
  'by-digest': 'FROM secret/app@DIGEST\n',
  'stage-then-copy': 'FROM secret/app:v1 AS s\nFROM scratch\nCOPY --from=s /secret.txt /stolen.txt\n',
  onbuild: 'FROM public/onbuild:v1\n',
  unparseable: 'FROM secret/App:v1\n',
};

describe('native builds and image rights', { timeout: 180_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let users: { path: string; remove: () => Promise<void> };
  let work: { path: string; remove: () => Promise<void> };
  let secretLayer: string;
  const alice = { Authorization: basic('alice', PASSWORDS.alice!) };

  const waitFor = (id: string) => env.waitFor(id, undefined, 60_000, alice);

  /** Builds an image straight into the server's registry (as its owner would push it). */
  const seed = async (repository: string, files: Record<string, string>): Promise<void> => {
    const dir = join(work.path, repository.replace('/', '-'));
    await mkdir(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const builder = new NativeBuilder({ registry: env.server.app.registry, tempDir: work.path });
    await builder.build(buildRequest(dir, { repository, tags: ['v1'] }));
  };

  beforeAll(async () => {
    github = await FakeGitHub.start();
    users = await tempDir('berth-users-');
    work = await tempDir('berth-seed-');
    const usersFile = join(users.path, 'users.htpasswd');
    await writeUsersFile(usersFile);
    env = await startBuildsEnv(github, (config) => {
      teamAuth(config, usersFile);
      config.auth.rules = [
        { repository: 'secret/*', user: 'alice', actions: ['pull', 'push'] },
        { repository: 'base/*', user: 'alice', actions: ['pull', 'push'] },
        ...config.auth.rules,
      ];
      config.builds.builder = 'native';
      config.builds.repositories = [
        // The audit's setup: a linked repository whose builds may pull nothing (pull: []).
        linkedRepository({
          image: 'public/hello',
          rules: [{ name: 'any', type: 'branch', source: '/^(.+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }],
        }),
        linkedRepository({ github: APP, secret: 'app-secret', image: 'team-a/app', pull: ['base/*'] }),
      ];
    });
    await seed('secret/app', { 'secret.txt': 'TOP SECRET 42\n', Dockerfile: 'FROM scratch\nCOPY secret.txt /secret.txt\n' });
    await seed('public/onbuild', { Dockerfile: 'FROM scratch\nONBUILD COPY --from=secret/app:v1 /secret.txt /stolen.txt\n' });
    await seed('base/private', { 'base.txt': 'base\n', Dockerfile: 'FROM scratch\nCOPY base.txt /base.txt\n' });
    const secret = await env.server.app.registry.manifests.get('secret/app', 'v1');
    secretLayer = JSON.parse(secret.bytes.toString('utf8')).layers[0].digest;
    const dockerfile = (text: string): TarEntry[] => [
      { name: 'top/', type: 'directory' },
      { name: 'top/Dockerfile', content: text.replace('DIGEST', secret.digest) },
    ];
    github.repository(REPO);
    for (const [branch, text] of Object.entries(ATTACKS)) await github.commit(REPO, { entries: dockerfile(text) }, { refs: [`heads/${branch}`] });
    github.repository(APP);
    await github.commit(APP, { entries: dockerfile('FROM base/private:v1\nLABEL built=yes\n') }, { refs: ['heads/main'] });
  });

  afterAll(async () => {
    await env?.close();
    await github?.close();
    await users?.remove();
    await work?.remove();
  });

  it("fails every one of the audit's Dockerfiles, and nothing private lands in the public repository", async () => {
    const ids: Record<string, string> = {};
    for (const branch of Object.keys(ATTACKS)) {
      const sha = github.repository(REPO).refs.get(`heads/${branch}`)!;
      const res = await env.deliver('push', pushPayload({ repository: REPO, ref: `refs/heads/${branch}`, sha }));
      expect(res.status, branch).toBe(202);
      ids[branch] = res.json.builds[0].id;
    }
    for (const [branch, id] of Object.entries(ids)) {
      const record = await waitFor(id);
      expect(record.state, `${branch}: ${record.error}`).toBe('failed');
      expect(record.error, branch).toMatch(branch === 'unparseable' ? /invalid image reference/ : /may not pull secret\/app/);
    }
    // Nothing was pushed to the public repository, and the private layer is not linked there.
    expect((await env.client.get('/v2/public/hello/tags/list')).status).toBe(404);
    expect((await env.client.head(`/v2/public/hello/blobs/${secretLayer}`, alice)).status).toBe(404);
  });

  it('gives a build triggered by hand no more than its caller may pull', async () => {
    const trigger = (user: string) =>
      env.client.request('POST', '/api/builds', {
        body: JSON.stringify({ repository: APP }),
        headers: { 'Content-Type': 'application/json', Authorization: basic(user, PASSWORDS[user]!) },
      });
    // ci may push team-a/app but may not pull base/*: its build may not either.
    const byCi = await trigger('ci');
    expect(byCi.status).toBe(202);
    const ciBuild = await waitFor(byCi.json.builds[0].id);
    expect(ciBuild.state).toBe('failed');
    expect(ciBuild.error).toMatch(/may not pull base\/private/);
    // alice may pull base/*: her build may.
    const byAlice = await trigger('alice');
    expect(byAlice.status).toBe(202);
    expect((await waitFor(byAlice.json.builds[0].id)).state).toBe('succeeded');
    // A push to GitHub builds with the linked repository's rights (pull: ['base/*']).
    const sha = github.repository(APP).refs.get('heads/main')!;
    const pushed = await env.deliver('push', pushPayload({ repository: APP, ref: 'refs/heads/main', sha }), { secret: 'app-secret' });
    expect((await waitFor(pushed.json.builds[0].id)).state).toBe('succeeded');
  });
});

describe('buildah builds and image rights', { timeout: 120_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let users: { path: string; remove: () => Promise<void> };
  const alice = { Authorization: basic('alice', PASSWORDS.alice!) };
  const DOCKERFILES: Record<string, string> = {
    'from-secret': 'FROM berth.test/secret/app:v1\n',
    'from-quoted': 'FROM "berth.test/secret/app:v1"\n',
    'copy-from': 'FROM berth.test/public/base:1\nCOPY --from=berth.test/secret/app:v1 /secret.txt /x\n',
    'from-arg': 'ARG BASE=berth.test/secret/app\nFROM ${BASE}:v1\n',
    allowed: '# fake-auth\nFROM berth.test/public/base:1\nCOPY --from=docker.io/library/busybox /bin/sh /sh\n',
  };

  beforeAll(async () => {
    github = await FakeGitHub.start();
    users = await tempDir('berth-users-');
    const usersFile = join(users.path, 'users.htpasswd');
    await writeUsersFile(usersFile);
    env = await startBuildsEnv(github, (config) => {
      teamAuth(config, usersFile);
      config.auth.rules = [{ repository: 'secret/*', user: 'alice', actions: ['pull', 'push'] }, ...config.auth.rules];
      config.builds.registryHost = 'berth.test';
      config.builds.repositories = [
        linkedRepository({
          image: 'public/hello',
          rules: [{ name: 'any', type: 'branch', source: '/^(.+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} }],
        }),
      ];
    });
    github.repository(REPO);
    for (const [branch, text] of Object.entries(DOCKERFILES)) {
      await github.commit(REPO, { entries: [{ name: 'top/', type: 'directory' }, { name: 'top/Dockerfile', content: text }] }, { refs: [`heads/${branch}`] });
    }
  });
  afterAll(async () => {
    await env?.close();
    await github?.close();
    await users?.remove();
  });

  it('refuses Berth images the build may not pull before buildah runs, and gives credentials for the rest only', async () => {
    const results: Record<string, Record<string, any>> = {};
    for (const branch of Object.keys(DOCKERFILES)) {
      const sha = github.repository(REPO).refs.get(`heads/${branch}`)!;
      const res = await env.deliver('push', pushPayload({ repository: REPO, ref: `refs/heads/${branch}`, sha }));
      expect(res.status).toBe(202);
      const id = res.json.builds[0].id as string;
      const record = await env.waitFor(id, undefined, 30_000, alice);
      results[branch] = { ...record, log: (await env.client.get(`/api/builds/${id}/logs`, alice)).body.toString() };
    }
    for (const branch of ['from-secret', 'from-quoted', 'copy-from', 'from-arg']) {
      expect(results[branch]!.state, branch).toBe('failed');
      expect(results[branch]!.error, branch).toMatch(/may not pull secret\/app/);
      expect(results[branch]!.log, branch).not.toContain('$ '); // buildah never ran
    }
    expect(results.allowed!.state).toBe('succeeded');
    const auths = (results.allowed!.log as string).split('\n').filter((line) => line.startsWith('auth ')).sort();
    expect(auths).toEqual([`auth 127.0.0.1:${env.server.port}/public/base`, `auth 127.0.0.1:${env.server.port}/public/hello`, 'auth berth.test/public/base', 'auth berth.test/public/hello']);
  });
});
