/**
 * Unpacking repository tarballs: GitHub's layout works; hostile archives fail with a clear
 * SourceError and never write outside the folder.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractTarball, resolveLink, SourceError } from '../../src/builds/github/extract.js';
import { resolveBuildInput } from '../../src/builds/github/source.js';
import { type TarEntry, tarballOf } from '../helpers/fake-github.js';
import { tempDir } from '../helpers/tmp.js';

const TOP = 'acme-hello-1234567';
const LIMITS = { maxBytes: 10 * 1024 * 1024, maxFiles: 1000 };

describe('source tarball extraction', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let root: string;

  beforeEach(async () => {
    dir = await tempDir('berth-extract-');
    root = join(dir.path, 'ctx', 'source');
    await mkdir(root, { recursive: true });
  });
  afterEach(async () => dir.remove());

  /** Nothing but `ctx/` in the temp folder: nothing landed beside or above the context. */
  function expectNothingOutside(): void {
    expect(readdirSync(dir.path)).toEqual(['ctx']);
    expect(readdirSync(join(dir.path, 'ctx')).filter((name) => name !== 'again')).toEqual(['source']);
  }

  const unpack = (entries: TarEntry[], limits = LIMITS) => extractTarball(tarballOf(entries), root, limits);
  const file = (name: string, content = 'x', mode?: number): TarEntry => ({ name: `${TOP}/${name}`, content, mode });

  it("strips GitHub's top folder, skips the pax_global_header, keeps modes, symlinks and hardlinks inside", async () => {
    const result = await unpack([
      { name: `${TOP}/`, type: 'directory' },
      file('Dockerfile', 'FROM scratch\n'),
      file('bin/run.sh', '#!/bin/sh\n', 0o4755),
      { name: `${TOP}/docs/`, type: 'directory' },
      { name: `${TOP}/docs/current`, type: 'symlink', linkname: '../bin' },
      { name: `${TOP}/docs/run-link`, type: 'link', linkname: `${TOP}/bin/run.sh` },
    ]);
    expect(result).toEqual({ files: 6, bytes: 23 }); // bin/ counts too, though the archive has no entry for it
    expect(readdirSync(root).sort()).toEqual(['Dockerfile', 'bin', 'docs']);
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toBe('FROM scratch\n');
    expect(lstatSync(join(root, 'bin/run.sh')).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(root, 'docs/current'))).toBe('../bin');
    expect(lstatSync(join(root, 'docs/run-link')).nlink).toBe(2);
    expectNothingOutside();
  });

  it.each([
    ['a ../ entry', [file('ok'), { name: `${TOP}/../evil`, content: 'x' }], /\.\. in path/],
    ['a nested ../ entry', [{ name: `${TOP}/a/../../evil`, content: 'x' }], /\.\. in path/],
    ['an absolute path', [{ name: '/tmp/evil', content: 'x' }], /absolute path/],
    ['an entry outside the top folder', [file('ok'), { name: 'other-top/evil', content: 'x' }], /outside the top-level folder/],
    ['a symlink to an absolute path', [{ name: `${TOP}/etc`, type: 'symlink', linkname: '/etc' }], /absolute target/],
    ['a symlink escaping with ..', [{ name: `${TOP}/a/up`, type: 'symlink', linkname: '../../..' }], /points outside/],
    [
      'a symlink escaping through another symlink',
      [
        { name: `${TOP}/dot`, type: 'symlink', linkname: '.' },
        { name: `${TOP}/sub/`, type: 'directory' },
        { name: `${TOP}/sub/esc`, type: 'symlink', linkname: '../dot/..' },
      ],
      /points outside/,
    ],
    [
      'a symlink made harmful by a later one',
      [
        { name: `${TOP}/x`, type: 'symlink', linkname: 'y/..' },
        { name: `${TOP}/y`, type: 'symlink', linkname: '..' },
      ],
      /points outside/,
    ],
    ['a symlink loop', [{ name: `${TOP}/a`, type: 'symlink', linkname: 'b' }, { name: `${TOP}/b`, type: 'symlink', linkname: 'a' }], /points outside the source \(or loops\)/],
    [
      'a file written through a symlinked folder',
      [
        { name: `${TOP}/link`, type: 'symlink', linkname: 'real' },
        { name: `${TOP}/real/`, type: 'directory' },
        { name: `${TOP}/link/file`, content: 'x' },
      ],
      /inside a symlink/,
    ],
    ['a hardlink to a file outside', [{ name: `${TOP}/passwd`, type: 'link', linkname: '/etc/passwd' }], /absolute path/],
    ['a hardlink to something not unpacked', [{ name: `${TOP}/h`, type: 'link', linkname: `${TOP}/nothing` }], /must point at a file unpacked before it/],
    ['a character device', [{ name: `${TOP}/null`, type: 'character-device' }], /character-device entries are not allowed/],
    ['a FIFO', [{ name: `${TOP}/pipe`, type: 'fifo' }], /fifo entries are not allowed/],
    ['a file appearing twice', [file('a', '1'), file('a', '2')], /appears twice/],
    ['a file over a symlink', [{ name: `${TOP}/s`, type: 'symlink', linkname: 'target' }, file('s', 'x')], /appears twice/],
  ] as [string, TarEntry[], RegExp][])('refuses %s', async (_what, entries, message) => {
    const failure = await unpack(entries).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SourceError);
    expect((failure as Error).message).toMatch(message);
    expectNothingOutside();
  });

  it('stops at the file count limit', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => file(`f${i}`));
    await expect(unpack(entries, { maxBytes: LIMITS.maxBytes, maxFiles: 20 })).rejects.toThrow(/more than 20 entries \(builds.source.maxFiles\)/);
    expect(readdirSync(root).length).toBeLessThanOrEqual(20);
  });

  it('counts every folder it creates toward the entry limit', async () => {
    // 10 file entries, each 30 folders deep: 300 folders, far past 50 entries.
    const entries = Array.from({ length: 10 }, (_, i) => file(`${Array.from({ length: 30 }, (__, d) => `f${i}-${d}`).join('/')}/leaf`));
    await expect(unpack(entries, { maxBytes: LIMITS.maxBytes, maxFiles: 50 })).rejects.toThrow(/more than 50 entries \(builds.source.maxFiles\)/);
  });

  it("refuses the audit's archive: 200 entries whose deep paths make 51,000 folders", async () => {
    const component = (i: number, depth: number) => `dir-${String(i).padStart(3, '0')}-${String(depth).padStart(3, '0')}-x`; // 15 characters
    const entries = Array.from({ length: 200 }, (_, i) => file(`${Array.from({ length: 255 }, (_, d) => component(i, d)).join('/')}/f`));
    // With a small entry limit, the folders count.
    await expect(unpack(entries, { maxBytes: 1024 ** 3, maxFiles: 1000 })).rejects.toThrow(/more than 1000 entries/);
    // With the default limits (100,000 entries): the bytes of all those paths are what stops it.
    const fresh = join(dir.path, 'ctx', 'again');
    await mkdir(fresh);
    const limits = { maxBytes: 1024 ** 3, maxFiles: 100_000 };
    await expect(extractTarball(tarballOf(entries), fresh, limits)).rejects.toThrow(/paths.*\(builds.source.maxPathBytes\)/);
  }, 120_000);

  it('stops at the size limit, before writing the file past it', async () => {
    const entries = [file('small', 'x'.repeat(1000)), { name: `${TOP}/big`, size: 5 * 1024 * 1024 }];
    await expect(unpack(entries, { maxBytes: 1024 * 1024, maxFiles: 10 })).rejects.toThrow(/more than 1048576 bytes/);
    expect(existsSync(join(root, 'big'))).toBe(false);
  });

  it('stops a gzip bomb at the stream limit', async () => {
    // One tar header then gigabytes of zeros: the tar never ends, the unpacked stream does.
    const zeros = new Readable({
      read() {
        this.push(Buffer.alloc(1024 * 1024));
      },
    });
    const bomb = zeros.pipe(createGzip({ level: 1 }));
    await expect(extractTarball(bomb, root, { maxBytes: 1024 * 1024, maxFiles: 4 })).rejects.toThrow(SourceError);
  });

  it('refuses something that is not a gzipped tar', async () => {
    await expect(extractTarball(Readable.from([Buffer.from('<html>not found</html>')]), root, LIMITS)).rejects.toThrow(/not a valid gzipped tar/);
  });

  it('resolves links by what the archive holds', () => {
    const links = new Map([
      ['a', 'b/c'],
      ['b', 'd'],
      ['loop', 'loop'],
    ]);
    expect(resolveLink('a', links)).toBe('d/c');
    expect(resolveLink('x/../a/..', links)).toBe('d');
    expect(resolveLink('..', links)).toBeUndefined();
    expect(resolveLink('loop', links)).toBeUndefined();
  });

  it('finds the context and Dockerfile a rule names, inside the source only', async () => {
    await unpack([
      file('app/Dockerfile.prod', 'FROM scratch\n'),
      file('app/Dockerfile.up', 'FROM scratch\n'),
      { name: `${TOP}/app/out`, type: 'symlink', linkname: '../Dockerfile' },
      file('Dockerfile', 'FROM scratch\n'),
      { name: `${TOP}/ctx-link`, type: 'symlink', linkname: 'app' },
    ]);
    const input = await resolveBuildInput(root, 'app', 'Dockerfile.prod');
    expect(input.dockerfile).toBe('Dockerfile.prod');
    expect(input.dockerfileText).toBe('FROM scratch\n');
    expect((await resolveBuildInput(root, 'ctx-link', 'Dockerfile.up')).contextDir).toBe(join(root, 'app'));
    await expect(resolveBuildInput(root, 'app', 'out')).rejects.toThrow(/must be a file inside the build context/);
    await expect(resolveBuildInput(root, 'missing', 'Dockerfile')).rejects.toThrow(/does not exist/);
    await expect(resolveBuildInput(root, '', 'Nope')).rejects.toThrow(/no Nope in the build context/);
  });
});
