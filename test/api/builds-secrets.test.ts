/**
 * Secrets stay out of logs and out of buildah's reach (issue 15, item 8): build-argument values
 * are masked in every command line a build log shows; no configured secret (webhook secret, GitHub
 * token, S3 keys, passwords, robot tokens) reaches the server's log or a build log; buildah runs
 * with the environment it needs, not Berth's (no BERTH_*, no AWS_*).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRobotScope, RobotStore } from '../../src/auth/robots.js';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { basic, PASSWORDS, teamAuth, tokenReply, writeUsersFile } from '../helpers/auth-server.js';
import { FakeGitHub, pushPayload } from '../helpers/fake-github.js';
import { tempDir } from '../helpers/tmp.js';
import { type BuildsEnv, linkedRepository, REPO, startBuildsEnv } from './builds-setup.js';

const BUILD_ARG_SECRET = 'npm_SuperSecretValue123';
const SECRETS = {
  webhook: 'webhook-secret-do-not-log-1',
  github: 'ghp_github_token_do_not_log_2',
  s3Key: 'AKIA_S3_KEY_DO_NOT_LOG_3',
  s3Secret: 's3-secret-key-do-not-log-4',
  environment: 'environment-secret-do-not-pass-5',
};

describe('secrets in builds', { timeout: 60_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let users: { path: string; remove: () => Promise<void> };
  let robotSecret: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO);
    await github.commit(REPO, { entries: [{ name: 'top/', type: 'directory' }, { name: 'top/Dockerfile', content: '# fake-env\nFROM scratch\nARG NPM_TOKEN\n' }] }, { refs: ['heads/main'] });
    users = await tempDir('berth-users-');
    const usersFile = join(users.path, 'users.htpasswd');
    await writeUsersFile(usersFile);
    env = await startBuildsEnv(github, (config) => {
      teamAuth(config, usersFile);
      config.storage.s3 = { ...config.storage.s3, accessKeyId: SECRETS.s3Key, secretAccessKey: SECRETS.s3Secret };
      config.builds.github.token = SECRETS.github;
      config.builds.repositories = [
        linkedRepository({
          secret: SECRETS.webhook,
          image: 'team-a/hello',
          rules: [{ name: 'main', type: 'branch', source: 'main', tag: 'latest', dockerfile: 'Dockerfile', context: '', buildArgs: { NPM_TOKEN: BUILD_ARG_SECRET } }],
        }),
      ];
    });
    robotSecret = (await new RobotStore(createFilesystemDriver(env.root)).create({ user: 'alice', scopes: [parseRobotScope('repository:team-a/*:pull')], expiresIn: 600 })).secret;
    // What the server's process holds in its environment: buildah must not get it.
    for (const name of ['BERTH_BUILD_TEST_SECRET', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID']) {
      saved[name] = process.env[name];
      process.env[name] = SECRETS.environment;
    }
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await env?.close();
    await github?.close();
    await users?.remove();
  });

  it('masks build-argument values, passes buildah no secrets, and logs none anywhere', async () => {
    // Some sign-ins, right and wrong, with passwords and a robot token.
    expect((await tokenReply(env.client, 'alice', [])).status).toBe(200);
    expect((await tokenReply(env.client, 'alice', [], 'a-wrong-password-guess')).status).toBe(401);
    expect((await env.client.get('/v2/', { Authorization: basic('alice', robotSecret) })).status).toBe(200);
    const sha = github.repository(REPO).refs.get('heads/main')!;
    const push = await env.deliver('push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }), { secret: SECRETS.webhook });
    expect(push.status).toBe(202);
    const id = push.json.builds[0].id as string;
    const alice = { Authorization: basic('alice', PASSWORDS.alice!) };
    const record = await env.waitFor(id, undefined, 20_000, alice);
    expect(record.state).toBe('succeeded');
    const buildLog = (await env.client.get(`/api/builds/${id}/logs`, alice)).body.toString();

    const commands = buildLog.split('\n').filter((line) => line.startsWith('$ '));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.join('\n')).toContain('--build-arg NPM_TOKEN=***');
    for (const line of commands) expect(line).not.toContain(BUILD_ARG_SECRET);

    const names = buildLog.split('\n').filter((line) => line.startsWith('env ')).map((line) => line.slice(4));
    expect(names).toContain('PATH');
    expect(names.filter((name) => name.startsWith('BERTH_') || name.startsWith('AWS_'))).toEqual([]);

    const serverLog = env.server.logs.map((line) => JSON.stringify(line)).join('\n');
    for (const secret of [...Object.values(SECRETS), ...Object.values(PASSWORDS), 'a-wrong-password-guess', robotSecret]) {
      expect(serverLog.includes(secret), `${secret} in the server's log`).toBe(false);
      expect(buildLog.includes(secret), `${secret} in the build log`).toBe(false);
    }
  });
});
