/**
 * Automated builds end to end: a signed GitHub push webhook -> source from the fake GitHub ->
 * build -> image in Berth under the rule's tags, checked with skopeo (config and layer files);
 * commit statuses pending then success. Both builders on a Dockerfile without RUN, and buildah
 * on one with RUN FROM a busybox base pushed into Berth first (CI has no internet: every base
 * comes from Berth). Webhook-to-image times and the memory of a 200 MiB source build are printed
 * for the closing note.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { FIXTURES, linkedRepository, REPO, startBuildsEnv, type BuildsEnv } from '../api/builds-setup.js';
import { basic, PASSWORDS, teamAuth, writeUsersFile } from '../helpers/auth-server.js';
import { FakeGitHub, pushPayload, signedDelivery, tarballOf } from '../helpers/fake-github.js';
import { Client } from '../helpers/http.js';
import { run } from '../helpers/images.js';
import { layerEntries } from '../helpers/native-build.js';
import { tempDir } from '../helpers/tmp.js';

interface InspectConfig {
  config: { Cmd?: string[]; Env?: string[]; Labels?: Record<string, string>; WorkingDir?: string; ExposedPorts?: Record<string, object> };
}

interface Manifest {
  layers: { digest: string }[];
}

const RULES: Config['builds']['repositories'][number]['rules'] = [
  { name: 'main', type: 'branch', source: 'main', tag: 'latest,{sourceref}', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
  { name: 'release', type: 'tag', source: '/^v([0-9.]+)$/', tag: '{\\1}', dockerfile: 'Dockerfile', context: '', buildArgs: {} },
];

/** A busybox base image (FROM scratch + static busybox and a few applet links), made with umoci. */
async function pushBusybox(dir: string, host: string, skopeoFlags: string[] = []): Promise<void> {
  const layout = join(dir, 'OCI');
  const bundle = join(dir, 'bundle');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:base`]);
  await run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
  await mkdir(join(bundle, 'rootfs/bin'), { recursive: true });
  await copyFile('/bin/busybox', join(bundle, 'rootfs/bin/busybox'));
  for (const applet of ['sh', 'mkdir', 'cat', 'ls', 'echo']) await symlink('busybox', join(bundle, 'rootfs/bin', applet));
  await run('umoci', ['repack', '--image', `${layout}:base`, bundle]);
  await run('umoci', ['config', '--image', `${layout}:base`, '--config.env', 'PATH=/bin', '--architecture', 'amd64', '--os', 'linux']);
  await run('skopeo', ['copy', ...skopeoFlags, '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${host}/base/busybox:1`]);
}

function describeBuilder(builder: 'native' | 'buildah'): void {
  describe(`automated builds with the ${builder} builder`, { timeout: 300_000 }, () => {
    let github: FakeGitHub;
    let env: BuildsEnv;
    let host: string;
    let work: { path: string; remove: () => Promise<void> };

    const skopeo = (...args: string[]) => run('skopeo', args);
    const inspectConfig = async (ref: string) => JSON.parse((await skopeo('inspect', '--config', '--tls-verify=false', `docker://${host}/${ref}`)).stdout) as InspectConfig;
    const inspectRaw = async (ref: string) => JSON.parse((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/${ref}`)).stdout) as Manifest;
    /** Every file in the image's layers: path -> content (small files) or link target. */
    async function imageFiles(ref: string): Promise<Map<string, string>> {
      const files = new Map<string, string>();
      for (const layer of (await inspectRaw(ref)).layers) {
        for (const entry of await layerEntries(env.server.app.registry, layer.digest)) {
          const name = entry.name.replace(/^\.?\//, '').replace(/\/$/, '');
          files.set(name, entry.linkname !== undefined ? `-> ${entry.linkname}` : (entry.content ?? `<${entry.type}>`));
        }
      }
      return files;
    }
    async function statesOf(sha: string, context: string, count: number): Promise<string[]> {
      const end = Date.now() + 10_000;
      let states: string[] = [];
      while (Date.now() < end) {
        states = github.statuses.filter((s) => s.sha === sha && s.context === context).map((s) => s.state);
        if (states.length >= count) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return states;
    }

    beforeAll(async () => {
      github = await FakeGitHub.start();
      github.repository(REPO, { defaultBranch: 'main' });
      work = await tempDir('berth-e2e-builds-');
      env = await startBuildsEnv(github, (config) => {
        config.builds.builder = builder;
        config.builds.buildah = 'buildah';
        config.builds.registryHost = 'berth.test';
        config.builds.repositories = [linkedRepository({ rules: RULES })];
        config.log.level = 'info';
      });
      host = env.server.host;
    });

    afterAll(async () => {
      await env?.close();
      await github?.close();
      await work?.remove();
    });

    it('builds a signed push into the image the rules name, and tells GitHub', async () => {
      const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-app') }, { message: 'add the app', refs: ['heads/main'] });
      const started = Date.now();
      const res = await env.push('refs/heads/main', sha, { message: 'add the app' });
      expect(res.status).toBe(202);
      const build = await env.waitFor(res.json.builds[0].id, ['succeeded', 'failed', 'cancelled'], 240_000);
      const elapsed = Date.now() - started;
      if (build.state !== 'succeeded') throw new Error((await env.client.get(`/api/builds/${build.id}/logs`)).body.toString());
      console.log(`[measure] webhook-to-image with the ${builder} builder: ${elapsed} ms`);
      expect(build).toMatchObject({ builder, tags: ['latest', 'main'] });

      const config = await inspectConfig('acme/hello:latest');
      expect(config.config.Cmd).toEqual(['/app/run.sh']);
      expect(config.config.Env).toEqual(expect.arrayContaining(['GREETING=hello', 'APP_HOME=/app']));
      expect(config.config.WorkingDir).toBe('/app');
      expect(config.config.ExposedPorts).toEqual({ '8080/tcp': {} });
      expect(config.config.Labels).toMatchObject({
        'org.opencontainers.image.source': 'https://github.com/acme/hello',
        'org.opencontainers.image.revision': sha,
        'berth.test.tag': 'latest',
      });
      const files = await imageFiles('acme/hello:main');
      expect(files.get('app/hello.txt')).toBe('hello from the pipeline\n');
      expect(files.get('app/run.sh')).toBe('#!/bin/sh\necho "$GREETING"\n');
      expect(files.get('app/data/nested.txt')).toBe('nested\n');
      expect(files.get('app/link.txt')).toBe('-> hello.txt');
      const digest = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/acme/hello:main`)).stdout).Digest;
      expect(digest).toBe(build.digest);
      expect(await statesOf(sha, 'berth/main', 2)).toEqual(['pending', 'success']);
      expect(await readdir(env.workDir)).toEqual([]);
    });

    it('tags a v1.2.3 tag push as 1.2.3', async () => {
      const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-app') }, { refs: ['tags/v1.2.3'] });
      const res = await env.push('refs/tags/v1.2.3', sha);
      expect((await env.waitFor(res.json.builds[0].id, ['succeeded', 'failed'], 240_000)).state).toBe('succeeded');
      expect(JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/acme/hello`)).stdout).Tags).toEqual(expect.arrayContaining(['1.2.3', 'latest', 'main']));
      expect((await inspectConfig('acme/hello:1.2.3')).config.Labels?.['berth.test.tag']).toBe('1.2.3');
    });

    if (builder === 'buildah') {
      it('builds RUN through buildah FROM a base in Berth, and fails a failing RUN without pushing', async () => {
        await pushBusybox(work.path, host);
        const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-run') }, { refs: ['heads/main'] });
        const started = Date.now();
        const res = await env.push('refs/heads/main', sha);
        const build = await env.waitFor(res.json.builds[0].id, ['succeeded', 'failed'], 240_000);
        if (build.state !== 'succeeded') throw new Error((await env.client.get(`/api/builds/${build.id}/logs`)).body.toString());
        console.log(`[measure] webhook-to-image with RUN (buildah): ${Date.now() - started} ms`);
        const config = await inspectConfig('acme/hello:latest');
        expect(config.config.Cmd).toEqual(['/bin/sh', '-c', 'cat /out/info.txt']);
        expect(config.config.Env).toEqual(expect.arrayContaining(['MODE=run', 'PATH=/bin']));
        expect(config.config.WorkingDir).toBe('/out');
        const files = await imageFiles('acme/hello:latest');
        expect(files.get('out/info.txt')).toBe('built from main\n');
        expect(files.get('out/hello.txt')).toBe('hello from RUN\n');
        expect(files.get('bin/sh')).toBe('-> busybox');

        // A failing RUN: a failed build naming the step, GitHub hears failure, no tag moves.
        const before = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/acme/hello:latest`)).stdout).Digest;
        const bad = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-run-fail') }, { refs: ['heads/main'] });
        const failing = await env.push('refs/heads/main', bad);
        const failed = await env.waitFor(failing.json.builds[0].id, ['succeeded', 'failed'], 240_000);
        expect(failed).toMatchObject({ state: 'failed', failure: 'build' });
        expect(failed.error).toMatch(/buildah bud exited with status/);
        const log = (await env.client.get(`/api/builds/${failed.id}/logs`)).body.toString();
        expect(log).toContain('about to fail');
        expect(JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${host}/acme/hello:latest`)).stdout).Digest).toBe(before);
        expect(await statesOf(bad, 'berth/main', 2)).toEqual(['pending', 'failure']);
        expect(await readdir(env.workDir)).toEqual([]);
      });
    } else {
      it('fails a Dockerfile with RUN naming the instruction and line when the native builder is chosen', async () => {
        const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-run') }, { refs: ['heads/main'] });
        const res = await env.push('refs/heads/main', sha);
        const failed = await env.waitFor(res.json.builds[0].id, ['succeeded', 'failed'], 60_000);
        expect(failed).toMatchObject({ state: 'failed', failure: 'build', builder: 'native' });
        expect(failed.error).toMatch(/^Dockerfile line 5: RUN /);
      });
    }
  });
}

describeBuilder('native');
describeBuilder('buildah');

/**
 * With token auth on, buildah pulls its base and pushes the result with the short-lived internal
 * token the pipeline hands it (traded at /token like a password), limited to the linked
 * repository's target and base patterns.
 */
describe('a buildah build with token auth on', { timeout: 300_000 }, () => {
  let github: FakeGitHub;
  let env: BuildsEnv;
  let work: { path: string; remove: () => Promise<void> };
  let alice: Client;

  beforeAll(async () => {
    work = await tempDir('berth-e2e-builds-auth-');
    const usersFile = join(work.path, 'users.htpasswd');
    await writeUsersFile(usersFile);
    github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    env = await startBuildsEnv(github, (config) => {
      teamAuth(config, usersFile);
      config.auth.rules.splice(-1, 0, { repository: 'base/*', team: 'dev', actions: ['pull', 'push'] });
      config.builds.builder = 'buildah';
      config.builds.buildah = 'buildah';
      config.builds.registryHost = 'berth.test';
      config.builds.repositories = [linkedRepository({ rules: RULES, image: 'team-a/hello', pull: ['base/*'] })];
    });
    alice = new Client(env.server.url, { Authorization: basic('alice', PASSWORDS.alice!) });
  });

  afterAll(async () => {
    await env?.close();
    await github?.close();
    await work?.remove();
  });

  it('pulls the base and pushes the image with the internal token', async () => {
    const host = env.server.host;
    const creds = `alice:${PASSWORDS.alice}`;
    const layout = join(work.path, 'base');
    await mkdir(layout);
    await pushBusybox(layout, host, ['--dest-creds', creds]);
    expect((await env.client.get('/v2/base/busybox/manifests/1')).status).toBe(401);

    const sha = await github.commit(REPO, { dir: join(FIXTURES, 'pipeline-run') }, { refs: ['heads/main'] });
    const res = await env.push('refs/heads/main', sha);
    expect(res.status).toBe(202);
    const id = res.json.builds[0].id as string;
    let build: Record<string, unknown> = {};
    for (const end = Date.now() + 240_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      build = (await alice.get(`/api/builds/${id}`)).json;
      if (build.state === 'succeeded' || build.state === 'failed') break;
    }
    if (build.state !== 'succeeded') throw new Error((await alice.get(`/api/builds/${id}/logs`)).body.toString());
    const inspect = JSON.parse((await run('skopeo', ['inspect', '--config', '--creds', creds, '--tls-verify=false', `docker://${host}/team-a/hello:latest`])).stdout) as InspectConfig;
    expect(inspect.config.Env).toEqual(expect.arrayContaining(['MODE=run']));
    const logs = env.server.logs.map((line) => JSON.stringify(line)).join('\n');
    expect(logs).toMatch(/"internal":true/);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
  });
});

/**
 * Memory: a 200 MiB source tarball (random bytes: it does not compress) built by a Berth in its
 * own process, whose peak resident memory (VmHWM) must stay under 250 MiB, with each builder.
 * The tarball is made once, beforehand, and served from disk.
 */
describe('memory with a 200 MiB source tarball', { timeout: 600_000 }, () => {
  const SIZE = 200 * 1024 * 1024;
  let github: FakeGitHub;
  let work: { path: string; remove: () => Promise<void> };
  let sha: string;

  beforeAll(async () => {
    github = await FakeGitHub.start();
    github.repository(REPO, { defaultBranch: 'main' });
    work = await tempDir('berth-e2e-big-');
    const tarball = join(work.path, 'source.tar.gz');
    const top = 'acme-hello-big';
    await pipeline(
      tarballOf([
        { name: `${top}/`, type: 'directory' },
        { name: `${top}/Dockerfile`, content: 'FROM scratch\nCOPY big.bin /data/big.bin\nCMD ["/data/big.bin"]\n' },
        { name: `${top}/big.bin`, size: SIZE },
      ]),
      createWriteStream(tarball),
    );
    sha = await github.commit(REPO, { tarballFile: tarball }, { refs: ['heads/main'] });
  });

  afterAll(async () => {
    await github?.close();
    await work?.remove();
  });

  it.each(['native', 'buildah'] as const)('stays under 250 MiB resident with the %s builder', async (builder) => {
    const dir = join(work.path, builder);
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'berth.yaml');
    await writeFile(
      config,
      [
        'storage: { filesystem: { root: ./data } }',
        'log: { level: info }',
        'builds:',
        `  builder: ${builder}`,
        '  workDir: ./work',
        `  github: { api: "${github.url}", token: t0ken }`,
        '  repositories:',
        `    - { github: ${REPO}, secret: big-secret-1, image: acme/big }`,
        '',
      ].join('\n'),
    );
    const cli = join(import.meta.dirname, '../../dist/src/cli.js');
    const child = spawn(process.execPath, [cli, 'serve', '--config', config, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let url = '';
      const lines = createInterface({ input: child.stdout! });
      for await (const line of lines) {
        const entry = JSON.parse(line) as { msg: string; url?: string };
        if (entry.msg === 'listening') {
          url = entry.url!;
          break;
        }
      }
      child.stdout!.resume(); // request log lines: not needed
      const signed = signedDelivery('big-secret-1', 'push', pushPayload({ repository: REPO, ref: 'refs/heads/main', sha }));
      const started = Date.now();
      const res = await fetch(`${url}/webhooks/github`, { method: 'POST', body: signed.body, headers: signed.headers });
      expect(res.status).toBe(202);
      const id = ((await res.json()) as { builds: { id: string }[] }).builds[0]!.id;
      let state = '';
      while (!['succeeded', 'failed', 'cancelled'].includes(state)) {
        await new Promise((r) => setTimeout(r, 250));
        state = ((await (await fetch(`${url}/api/builds/${id}`)).json()) as { state: string }).state;
      }
      const log = await (await fetch(`${url}/api/builds/${id}/logs`)).text();
      expect(state, log).toBe('succeeded');
      const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))![1]);
      console.log(`[measure] 200 MiB source with the ${builder} builder: ${Date.now() - started} ms, Berth peak RSS ${Math.round(peakKiB / 1024)} MiB`);
      expect(peakKiB).toBeLessThan(250 * 1024);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
