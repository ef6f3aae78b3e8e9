/**
 * The native builder against a real Registry on a temporary filesystem driver: what it pushes
 * (manifest, config, layer entries), reproducibility, multi-stage, ADD of archives, FROM an image
 * in Berth, and the Dockerfiles and contexts it must refuse.
 */
import { chmod, mkdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedDockerfileError } from '../../src/builds/builder.js';
import { NativeBuildError, NativeBuilder } from '../../src/builds/native/builder.js';
import { findUnsupported } from '../../src/builds/native/support.js';
import { RegistryError } from '../../src/registry/errors.js';
import type { Registry } from '../../src/registry/registry.js';
import { buildRequest, copyFixture, FIXTURES, layerEntries, makeTar, pushedImage, registryOn, type TarEntry } from '../helpers/native-build.js';
import { tempDir } from '../helpers/tmp.js';

describe('native builder', () => {
  let work: { path: string; remove: () => Promise<void> };
  let registry: Registry;
  let builder: NativeBuilder;
  let contexts = 0;

  beforeAll(async () => {
    work = await tempDir('berth-native-unit-');
    registry = registryOn(join(work.path, 'data'));
    builder = new NativeBuilder({ registry, tempDir: work.path });
  });
  afterAll(async () => work?.remove());

  /** A fresh context folder: a fixture's copy, or one made of the given files. */
  async function context(fixture: string | Record<string, string>): Promise<string> {
    const dir = join(work.path, `ctx-${++contexts}`);
    if (typeof fixture === 'string') return copyFixture(fixture, dir);
    for (const [path, content] of Object.entries(fixture)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  }

  /** Every entry of every layer, by path (later layers win), without the trailing `/` of folders. */
  async function files(repository: string, reference: string): Promise<Map<string, TarEntry>> {
    const { manifest } = await pushedImage(registry, repository, reference);
    const all = new Map<string, TarEntry>();
    for (const layer of manifest.layers) for (const entry of await layerEntries(registry, layer.digest)) all.set(entry.name.replace(/\/$/, ''), entry);
    return all;
  }

  async function expectNothingPushed(repository: string): Promise<void> {
    await expect(registry.manifests.get(repository, 'latest')).rejects.toBeInstanceOf(RegistryError);
  }

  describe('FROM scratch with the config instructions', () => {
    it('writes the config Docker would', async () => {
      const request = buildRequest(await context('scratch-app'), { repository: 'demo/scratch', buildArgs: { SOURCE_BRANCH: 'main' } });
      const result = await builder.build(request);
      const { manifest, config, digest } = await pushedImage(registry, 'demo/scratch', 'latest');
      expect(result.digest).toBe(digest);
      expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
      expect(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
      expect(config.architecture).toBe('amd64');
      expect(config.os).toBe('linux');
      expect(config.created).toBe('1970-01-01T00:00:00Z');
      expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
      expect(config.config).toEqual({
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/app', 'APP_VERSION=1.0'],
        Labels: { 'org.opencontainers.image.version': '1.0', branch: 'main', description: 'a "quoted" label' },
        WorkingDir: '/app',
        ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
        User: '1000:1000',
        Volumes: { '/data': {} },
        StopSignal: 'SIGTERM',
        Healthcheck: { Test: ['CMD', '/usr/local/bin/run', '--health'], Interval: 30e9, Timeout: 5e9 },
        Entrypoint: ['/usr/local/bin/run'],
        Cmd: ['serve', '--port', '8080'],
      });
      // One history entry per instruction after FROM; layers only for WORKDIR and the three COPYs.
      expect(config.history).toHaveLength(15);
      expect(config.history!.filter((h) => !h.empty_layer).map((h) => h.created_by)).toEqual([
        'WORKDIR $APP_HOME',
        'COPY hello.txt ./',
        'COPY src/ ./src/',
        'COPY --chmod=755 bin/run.sh /usr/local/bin/run',
      ]);
      expect(request.lines).toContain('Step 8/17 : COPY hello.txt ./');
      expect(request.lines.at(-1)).toBe(`Pushed demo/scratch@${digest} as latest`);
    });

    it('puts the files in the layers, honours .dockerignore, --chmod and the WORKDIR', async () => {
      const entries = await files('demo/scratch', 'latest');
      expect([...entries.keys()].sort()).toEqual([
        'app',
        'app/hello.txt',
        'app/src',
        'app/src/a.txt',
        'app/src/nested',
        'app/src/nested/b.txt',
        'usr',
        'usr/local',
        'usr/local/bin',
        'usr/local/bin/run',
      ]);
      expect(entries.get('app/hello.txt')).toMatchObject({ type: 'file', uid: 0, gid: 0, mtime: 0, content: 'hello from berth\n' });
      expect(entries.get('usr/local/bin/run')).toMatchObject({ mode: 0o755, content: '#!/bin/sh\necho "run $*"\n' });
      expect(entries.get('app')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0 });
    });

    it('takes build args over ARG defaults, and warns about build args no ARG uses', async () => {
      const request = buildRequest(await context('scratch-app'), { repository: 'demo/args', buildArgs: { VERSION: '2.5', UNUSED: 'x', DOCKERFILE_PATH: 'Dockerfile', COMMIT_MSG: 'm', SOURCE_DATE_EPOCH: '0' } });
      await builder.build(request);
      const { config } = await pushedImage(registry, 'demo/args', 'latest');
      expect(config.config.Env).toContain('APP_VERSION=2.5');
      expect(config.config.Labels).toMatchObject({ 'org.opencontainers.image.version': '2.5', branch: 'unknown' });
      expect(request.lines).toContain('[warning] build args not consumed by any ARG: UNUSED');
    });

    it('runs shell forms through SHELL, and ENV sees only what came before its line', async () => {
      const dir = await context({
        Dockerfile: [
          'FROM scratch',
          'ENV A=1',
          'ENV A=2 B=$A',
          'ENTRYPOINT exec /app "$@"',
          'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
          'CMD echo $HOME',
          'HEALTHCHECK --retries=3 CMD curl -f localhost || exit 1',
          'ONBUILD COPY . /onbuild/',
          'MAINTAINER someone@example.com',
          'EXPOSE 7000-7002/udp',
        ].join('\n'),
      });
      await builder.build(buildRequest(dir, { repository: 'demo/forms' }));
      const { config, manifest } = await pushedImage(registry, 'demo/forms', 'latest');
      expect(manifest.layers).toHaveLength(0);
      expect(config.config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=2', 'B=1']);
      expect(config.config.Entrypoint).toEqual(['/bin/sh', '-c', 'exec /app "$@"']);
      expect(config.config.Cmd).toEqual(['/bin/bash', '-o', 'pipefail', '-c', 'echo $HOME']);
      expect(config.config.Shell).toEqual(['/bin/bash', '-o', 'pipefail', '-c']);
      expect(config.config.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f localhost || exit 1'], Retries: 3 });
      expect(config.config.OnBuild).toEqual(['COPY . /onbuild/']);
      expect(config.config.ExposedPorts).toEqual({ '7000/udp': {}, '7001/udp': {}, '7002/udp': {} });
      expect(config.author).toBe('someone@example.com');
    });
  });

  describe('reproducibility', () => {
    it('gives the same digest for the same source, whatever the files mtimes and the folder', async () => {
      const first = await context('scratch-app');
      const second = await context('scratch-app');
      await utimes(join(second, 'hello.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
      const a = await builder.build(buildRequest(first, { repository: 'demo/repro', tags: ['a'] }));
      const b = await builder.build(buildRequest(second, { repository: 'demo/repro', tags: ['b'] }));
      expect(b.digest).toBe(a.digest);
    });

    it('uses SOURCE_DATE_EPOCH for created, history and file times', async () => {
      const dir = await context('scratch-app');
      const result = await builder.build(buildRequest(dir, { repository: 'demo/epoch', buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } }));
      const again = await builder.build(buildRequest(dir, { repository: 'demo/epoch', buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } }));
      expect(again.digest).toBe(result.digest);
      const { config } = await pushedImage(registry, 'demo/epoch', 'latest');
      expect(config.created).toBe('2023-11-14T22:13:20Z');
      expect(config.history!.every((h) => h.created === '2023-11-14T22:13:20Z')).toBe(true);
      const entries = await files('demo/epoch', 'latest');
      expect([...entries.values()].every((e) => e.mtime === 1_700_000_000)).toBe(true);
      const plain = await pushedImage(registry, 'demo/scratch', 'latest');
      expect(result.digest).not.toBe(plain.digest);
    });
  });

  describe('multi-stage', () => {
    it('copies from earlier stages by name and number, with --chown names from the image', async () => {
      const request = buildRequest(await context('multi-stage'), { repository: 'demo/multi' });
      await builder.build(request);
      const { config } = await pushedImage(registry, 'demo/multi', 'latest');
      // ENTRYPOINT resets the CMD inherited from the base stage.
      expect(config.config.Entrypoint).toEqual(['/bin/app']);
      expect(config.config.Cmd).toBeUndefined();
      const entries = await files('demo/multi', 'latest');
      expect(entries.get('etc/passwd')?.content).toContain('app:x:1001:1002');
      expect(entries.get('srv/app/main.txt')).toMatchObject({ uid: 1001, gid: 50, content: 'main\n' });
      expect(entries.get('srv/app/lib/util.txt')).toMatchObject({ uid: 1001, gid: 50 });
      expect(entries.get('srv/app')).toMatchObject({ type: 'directory', uid: 1001, gid: 50 });
      // Without --chown, files from another stage keep their owner.
      expect(entries.get('srv/copy-by-index.txt')).toMatchObject({ uid: 1001, gid: 1002, content: 'main\n' });
      expect(entries.get('srv/kept-owner/util.txt')).toMatchObject({ uid: 1001, gid: 1002, content: 'lib\n' });
      // The stage nothing uses was never built (its FROM is not in Berth).
      expect(request.lines.some((line) => line.includes('does-not-exist'))).toBe(false);
    });

    it('fails clearly when --chown names a user and the image has no /etc/passwd', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY --chown=app a.txt /a.txt\n', 'a.txt': 'a' });
      const error = await builder.build(buildRequest(dir, { repository: 'demo/nopasswd' })).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(NativeBuildError);
      expect((error as Error).message).toBe('Dockerfile line 2: COPY: cannot resolve user "app": the image has no /etc/passwd (use a numeric id)');
      await expectNothingPushed('demo/nopasswd');
    });
  });

  describe('ADD', () => {
    it('unpacks local tar and tar.gz archives, and copies other files as they are', async () => {
      const dir = await context('add-archive');
      const bundle = [
        { name: 'bundle/', type: 'directory' as const },
        { name: 'bundle/readme.md', content: '# bundle\n', uid: 33, gid: 33 },
        { name: 'bundle/bin/tool', content: 'tool\n', mode: 0o755 },
        { name: 'bundle/current', type: 'symlink' as const, linkname: 'bin/tool' },
        { name: 'bundle/hard', type: 'link' as const, linkname: 'bundle/readme.md' },
      ];
      await writeFile(join(dir, 'bundle.tar.gz'), await makeTar(bundle, true));
      await writeFile(join(dir, 'bundle.tar'), await makeTar(bundle, false));
      await builder.build(buildRequest(dir, { repository: 'demo/add' }));
      const entries = await files('demo/add', 'latest');
      for (const root of ['opt/gz', 'opt/tar']) {
        expect(entries.get(`${root}/bundle/readme.md`)).toMatchObject({ type: 'file', uid: 33, gid: 33, content: '# bundle\n' });
        expect(entries.get(`${root}/bundle/bin/tool`)).toMatchObject({ mode: 0o755, content: 'tool\n' });
        expect(entries.get(`${root}/bundle/current`)).toMatchObject({ type: 'symlink', linkname: 'bin/tool' });
        expect(entries.get(`${root}/bundle/hard`)).toMatchObject({ type: 'file', content: '# bundle\n' });
      }
      expect(entries.get('opt/owned/bundle/readme.md')).toMatchObject({ uid: 7, gid: 8 });
      expect(entries.get('opt/plain.txt')).toMatchObject({ type: 'file', content: 'not an archive\n' });
      expect(entries.has('opt/gz/bundle.tar.gz')).toBe(false);
    });

    it('refuses an archive entry that leaves its folder', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nADD evil.tar /x/\n' });
      await writeFile(join(dir, 'evil.tar'), await makeTar([{ name: '../../escape.txt', content: 'x' }], false));
      await expect(builder.build(buildRequest(dir, { repository: 'demo/evil-tar' }))).rejects.toThrow(
        'Dockerfile line 2: ADD: archive "evil.tar" has an entry outside its folder: ../../escape.txt',
      );
      await expectNothingPushed('demo/evil-tar');
    });

    it('refuses remote URLs as unsupported', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\n\nADD https://example.com/x.tgz /x/\n' });
      const error = await builder.build(buildRequest(dir, { repository: 'demo/url' })).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(UnsupportedDockerfileError);
      expect((error as UnsupportedDockerfileError).line).toBe(3);
      expect((error as Error).message).toMatch(/^Dockerfile line 3: ADD of a remote URL/);
    });
  });

  describe('refusals', () => {
    it('refuses RUN before doing anything, naming the instruction and line', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY a /a\n# build it\nRUN make \\\n  all\n', a: 'a' });
      const request = buildRequest(dir, { repository: 'demo/run' });
      const error = await builder.build(request).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(UnsupportedDockerfileError);
      expect(error).toMatchObject({ instruction: 'RUN', line: 4 });
      expect((error as Error).message).toBe('Dockerfile line 4: RUN needs the buildah builder: the native builder cannot run commands');
      expect(request.lines).toEqual([]);
      await expectNothingPushed('demo/run');
    });

    it('refuses unknown instructions, unknown flags and heredocs', async () => {
      const cases: [string, RegExp][] = [
        ['FROM scratch\nFROBNICATE x\n', /^Dockerfile line 2: FROBNICATE is not supported/],
        ['FROM scratch\nCOPY --parents a /x/\n', /^Dockerfile line 2: COPY --parents is not supported/],
        ['FROM scratch\nCOPY <<EOF /x\nhello\nEOF\n', /^Dockerfile line 2: COPY with a heredoc/],
      ];
      for (const [text, message] of cases) {
        const dir = await context({ Dockerfile: text, a: 'a' });
        const error = await builder.build(buildRequest(dir, { repository: 'demo/unsupported' })).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(UnsupportedDockerfileError);
        expect((error as Error).message).toMatch(message);
      }
    });

    it('tells a builder choice, from the text alone, what it cannot build', async () => {
      expect(findUnsupported(await readFile(join(FIXTURES, 'scratch-app/Dockerfile'), 'utf8'))).toBeUndefined();
      expect(findUnsupported(await readFile(join(FIXTURES, 'multi-stage/Dockerfile'), 'utf8'))).toBeUndefined();
      const cases: [string, string, number][] = [
        ['FROM scratch\nRUN true\n', 'RUN', 2],
        ['FROM scratch\n\nADD --chown=1 https://example.com/a.tgz /x/\n', 'ADD', 3],
        ['FROM scratch\nADD git@github.com:acme/x.git /x\n', 'ADD', 2],
        ['FROM scratch\nCOPY --exclude=*.md . /x/\n', 'COPY', 2],
        ['FROM scratch\nCOPY <<EOF /x\nEOF\n', 'COPY', 2],
        ['FROM scratch\nARG X\nCMD --help\n', 'CMD', 3],
      ];
      for (const [text, instruction, line] of cases) expect(findUnsupported(text), text).toMatchObject({ instruction, line });
    });

    it('refuses COPY of a path outside the context; an absolute path starts at the context', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY ../outside /x\n', 'inside.txt': 'in' });
      await writeFile(join(dir, '..', 'outside'), 'secret');
      await expect(builder.build(buildRequest(dir, { repository: 'demo/escape' }))).rejects.toThrow(
        'Dockerfile line 2: COPY: "../outside" is outside the build context',
      );
      await expectNothingPushed('demo/escape');
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY /inside.txt /x\n');
      await builder.build(buildRequest(dir, { repository: 'demo/absolute' }));
      expect((await files('demo/absolute', 'latest')).get('x')?.content).toBe('in');
    });

    it('copies symlinks inside a folder as symlinks, and never follows one out of the context', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY tree/ /tree/\nCOPY to-inside /followed\n', 'tree/real.txt': 'real', 'data.txt': 'data' });
      await writeFile(join(dir, '..', 'secret.txt'), 'secret');
      await symlink('../../secret.txt', join(dir, 'tree/escape'));
      await symlink('/etc/passwd', join(dir, 'tree/absolute'));
      await symlink('data.txt', join(dir, 'to-inside'));
      await builder.build(buildRequest(dir, { repository: 'demo/links' }));
      const entries = await files('demo/links', 'latest');
      expect(entries.get('tree/escape')).toMatchObject({ type: 'symlink', linkname: '../../secret.txt' });
      expect(entries.get('tree/absolute')).toMatchObject({ type: 'symlink', linkname: '/etc/passwd' });
      // A symlink named as the source is followed, inside the context.
      expect(entries.get('followed')).toMatchObject({ type: 'file', content: 'data' });

      // Named as the source, a link pointing outside resolves inside the context root, where
      // there is no such file: it is never read from outside.
      await symlink('../secret.txt', join(dir, 'outlink'));
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY outlink /x\n');
      await expect(builder.build(buildRequest(dir, { repository: 'demo/outlink' }))).rejects.toThrow('Dockerfile line 2: COPY: "outlink" not found in the build context');
      await expectNothingPushed('demo/outlink');
    });

    it('refuses a Dockerfile path outside the context', async () => {
      const dir = await context({ 'a.txt': 'a' });
      await expect(builder.build(buildRequest(dir, { dockerfile: '../Dockerfile' }))).rejects.toThrow(/outside the build context/);
    });

    it('reports globs that match nothing and missing files', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY *.nothing /x/\n' });
      await expect(builder.build(buildRequest(dir, { repository: 'demo/glob' }))).rejects.toThrow(/line 2: COPY: no source files were specified/);
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY missing.txt /x\n');
      await expect(builder.build(buildRequest(dir, { repository: 'demo/glob' }))).rejects.toThrow('Dockerfile line 2: COPY: "missing.txt" not found in the build context');
    });

    it('refuses a bad target repository or tag before doing anything', async () => {
      const dir = await context('scratch-app');
      const request = buildRequest(dir, { repository: 'demo/bad-tag', tags: ['ok', 'not ok'] });
      await expect(builder.build(request)).rejects.toMatchObject({ code: 'TAG_INVALID' });
      expect(request.lines).toEqual([]);
      await expect(builder.build(buildRequest(dir, { repository: 'Demo/Upper' }))).rejects.toMatchObject({ code: 'NAME_INVALID' });
    });

    it('stops on abort and pushes nothing', async () => {
      const controller = new AbortController();
      const dir = await context('scratch-app');
      const request = buildRequest(dir, { repository: 'demo/aborted', signal: controller.signal });
      request.log = (line) => {
        if (line.startsWith('Step 9/')) controller.abort(new Error('cancelled by test'));
      };
      await expect(builder.build(request)).rejects.toThrow('cancelled by test');
      await expectNothingPushed('demo/aborted');
    });
  });

  describe('globs and destinations', () => {
    it('makes a missing destination folder 0755, whatever the mode of the context root', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY . /app/\n', 'sub/file.txt': 'f' });
      await chmod(dir, 0o700);
      await chmod(join(dir, 'sub'), 0o750);
      await builder.build(buildRequest(dir, { repository: 'demo/modes' }));
      const entries = await files('demo/modes', 'latest');
      expect(entries.get('app')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0 });
      // Folders inside the copy keep their own mode.
      expect(entries.get('app/sub')).toMatchObject({ type: 'directory', mode: 0o750 });
      expect(entries.get('app/Dockerfile')?.type).toBe('file');
    });

    it('expands wildcards and copies a folder’s contents', async () => {
      const dir = await context({
        Dockerfile: 'FROM scratch\nWORKDIR /w\nCOPY *.txt docs/ ./\nCOPY ["conf/app.conf", "rel/"]\nCOPY conf /etc/app\n',
        'a.txt': 'a',
        'b.txt': 'b',
        'c.md': 'c',
        'docs/guide.md': 'guide',
        'conf/app.conf': 'conf',
      });
      await builder.build(buildRequest(dir, { repository: 'demo/globs' }));
      const entries = await files('demo/globs', 'latest');
      expect(entries.get('w/a.txt')?.content).toBe('a');
      expect(entries.get('w/b.txt')?.content).toBe('b');
      expect(entries.has('w/c.md')).toBe(false);
      expect(entries.get('w/guide.md')?.content).toBe('guide');
      expect(entries.get('w/rel/app.conf')?.content).toBe('conf');
      expect(entries.get('etc/app/app.conf')?.content).toBe('conf');
    });
  });

  describe('FROM an image stored in Berth', () => {
    it('reuses the base layers, runs its ONBUILD triggers, and accepts a registry host in front', async () => {
      const baseDir = await context({
        Dockerfile: 'FROM scratch\nCOPY base.txt /base.txt\nENV FROM_BASE=yes\nCMD ["/base"]\nONBUILD COPY trigger.txt /trigger.txt\n',
        'base.txt': 'base',
      });
      await builder.build(buildRequest(baseDir, { repository: 'lib/base', tags: ['1.0'] }));
      const base = await pushedImage(registry, 'lib/base', '1.0');

      const dir = await context({
        Dockerfile: 'ARG REGISTRY=registry.example.com:5000\nFROM ${REGISTRY}/lib/base:1.0\nCOPY app.txt /app.txt\n',
        'trigger.txt': 'triggered',
        'app.txt': 'app',
      });
      const request = buildRequest(dir, { repository: 'demo/derived', tags: ['1', 'latest'] });
      const result = await builder.build(request);
      const derived = await pushedImage(registry, 'demo/derived', '1');
      expect(derived.digest).toBe(result.digest);
      expect((await pushedImage(registry, 'demo/derived', 'latest')).digest).toBe(result.digest);
      // Base layers are referenced, not rebuilt, and are now readable in the target repository.
      expect(derived.manifest.layers[0]).toEqual(base.manifest.layers[0]);
      expect(derived.manifest.layers).toHaveLength(3);
      expect(await registry.blobs.isLinked('demo/derived', base.manifest.layers[0]!.digest)).toBe(true);
      expect(derived.config.rootfs.diff_ids[0]).toBe(base.config.rootfs.diff_ids[0]);
      expect(derived.config.config.Env).toContain('FROM_BASE=yes');
      expect(derived.config.config.Cmd).toEqual(['/base']);
      expect(derived.config.config.OnBuild).toBeUndefined();
      expect(derived.config.history!.length).toBe(base.config.history!.length + 2);
      expect(derived.manifest.annotations).toEqual({
        'org.opencontainers.image.base.name': 'registry.example.com:5000/lib/base:1.0',
        'org.opencontainers.image.base.digest': base.digest,
      });
      const entries = await files('demo/derived', '1');
      expect(entries.get('trigger.txt')?.content).toBe('triggered');
      expect(entries.get('app.txt')?.content).toBe('app');
      expect(entries.get('base.txt')?.content).toBe('base');
    });

    it('copies from an image in Berth by reference, and names a missing base clearly', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nCOPY --from=lib/base:1.0 /base.txt /from-image.txt\n' });
      await builder.build(buildRequest(dir, { repository: 'demo/from-image' }));
      expect((await files('demo/from-image', 'latest')).get('from-image.txt')?.content).toBe('base');

      await writeFile(join(dir, 'Dockerfile'), 'FROM alpine:3.20\n');
      await expect(builder.build(buildRequest(dir, { repository: 'demo/missing' }))).rejects.toThrow(
        'Dockerfile line 1: FROM: base image "alpine:3.20" is not in this registry: the native builder builds FROM images stored in Berth (push it here first) or FROM scratch',
      );
    });

    it('resolves destinations through the image’s symlinks and keeps existing folders’ owners', async () => {
      const baseDir = await context({ Dockerfile: 'FROM scratch\nADD root.tar /\n' });
      await writeFile(
        join(baseDir, 'root.tar'),
        await makeTar(
          [
            { name: 'usr/', type: 'directory' },
            { name: 'usr/lib/', type: 'directory' },
            { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
            { name: 'home/', type: 'directory' },
            { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000, mode: 0o750 },
          ],
          false,
        ),
      );
      await builder.build(buildRequest(baseDir, { repository: 'lib/merged-usr', tags: ['1'] }));
      const dir = await context({ Dockerfile: 'FROM lib/merged-usr:1\nCOPY x.so /lib/x.so\nCOPY app.txt /home/app/\nWORKDIR /home/app\n', 'x.so': 'so', 'app.txt': 'app' });
      const request = buildRequest(dir, { repository: 'demo/merged' });
      await builder.build(request);
      const { manifest } = await pushedImage(registry, 'demo/merged', 'latest');
      // WORKDIR of an existing folder adds no layer.
      expect(manifest.layers).toHaveLength(3);
      const soLayer = await layerEntries(registry, manifest.layers[1]!.digest);
      expect(soLayer.map((e) => e.name)).toEqual(['usr/', 'usr/lib/', 'usr/lib/x.so']);
      const appLayer = await layerEntries(registry, manifest.layers[2]!.digest);
      expect(appLayer.find((e) => e.name === 'home/app/')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o750 });
    });
  });
});
