/**
 * Test images made without a container engine: umoci builds an OCI layout with an amd64 image
 * (two layers), an arm64 variant and a multi-platform index over both.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command, failing with its stderr in the message. */
export async function run(command: string, args: string[], options: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  try {
    return await exec(command, args, { timeout: options.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface TestLayout {
  /** The OCI layout folder (for `oci:<dir>:<tag>`). */
  dir: string;
  /** The files in the image, path -> content. */
  files: Record<string, string>;
  /** Reads a blob of the layout. */
  blob(digest: string): Promise<Buffer>;
  /** The layout's index.json entries. */
  entries(): Promise<IndexEntry[]>;
  /** The manifest digest of a tag in the layout. */
  digestOf(tag: string): Promise<string>;
}

/**
 * Builds `<root>/OCI` with tags `test` (amd64: a files layer and an extra layer), `test-arm64`
 * and `multi` (an OCI index of the two). Contents are random, so every run's digests differ.
 */
export async function makeTestLayout(root: string): Promise<TestLayout> {
  const dir = join(root, 'OCI');
  const bundle = join(root, 'bundle');
  const extra = join(root, 'extra');
  const files = {
    'app/hello.txt': `hello ${randomBytes(8).toString('hex')}\n`,
    'app/run.sh': '#!/bin/sh\necho "$GREETING"\n',
    'app/data.bin': randomBytes(200_000).toString('base64'),
  };
  await run('umoci', ['init', '--layout', dir]);
  await run('umoci', ['new', '--image', `${dir}:test`]);
  await run('umoci', ['unpack', '--rootless', '--image', `${dir}:test`, bundle]);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(bundle, 'rootfs', path, '..'), { recursive: true });
    await writeFile(join(bundle, 'rootfs', path), content);
  }
  await run('umoci', ['repack', '--image', `${dir}:test`, bundle]);
  await mkdir(extra, { recursive: true });
  await writeFile(join(extra, 'notes.txt'), `extra layer ${randomBytes(8).toString('hex')}\n`);
  await run('umoci', ['insert', '--image', `${dir}:test`, extra, '/app/extra']);
  await run('umoci', [
    'config',
    '--image',
    `${dir}:test`,
    '--config.cmd',
    '/app/run.sh',
    '--config.env',
    'GREETING=hi',
    '--config.workingdir',
    '/app',
    '--architecture',
    'amd64',
    '--os',
    'linux',
  ]);
  await run('umoci', ['config', '--image', `${dir}:test`, '--tag', 'test-arm64', '--architecture', 'arm64']);

  const layout: TestLayout = {
    dir,
    files,
    blob: (digest) => readFile(join(dir, 'blobs', ...digest.split(':'))),
    entries: async () => (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: IndexEntry[] }).manifests,
    digestOf: async (tag) => {
      const entry = (await layout.entries()).find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === tag);
      if (!entry) throw new Error(`no tag ${tag} in ${dir}`);
      return entry.digest;
    },
  };

  // umoci makes manifests, not indexes: write the multi-platform index by hand.
  const platformEntry = async (tag: string, architecture: string): Promise<IndexEntry> => {
    const entry = (await layout.entries()).find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: entry.digest, size: entry.size, platform: { architecture, os: 'linux' } };
  };
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [await platformEntry('test', 'amd64'), await platformEntry('test-arm64', 'arm64')],
    }),
  );
  const hex = createHash('sha256').update(index).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), index);
  const top = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: IndexEntry[] };
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: `sha256:${hex}`,
    size: index.length,
    annotations: { 'org.opencontainers.image.ref.name': 'multi' },
  });
  await writeFile(join(dir, 'index.json'), JSON.stringify(top));
  return layout;
}
