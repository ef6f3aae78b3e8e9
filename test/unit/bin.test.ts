/**
 * `npx berth` in a clone, as a user runs it: npx links the package into its cache once, and from
 * then on runs `dist/src/cli.js` directly. Every build must therefore leave that file executable,
 * also after `rm -rf dist` (tsc alone writes it 0644: `sh: 1: berth: Permission denied`).
 *
 * The clone is a copy of the project's files in a temp folder (node_modules hard-linked), with its
 * own npm cache, so nothing here touches the project's dist/ that other tests use.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');

describe('the berth bin after a rebuild', { timeout: 240_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let clone: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await tempDir('berth-bin-');
    clone = join(dir.path, 'berth');
    const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    for (const file of stdout.split('\0').filter(Boolean)) {
      await mkdir(dirname(join(clone, file)), { recursive: true });
      await cp(join(ROOT, file), join(clone, file), { preserveTimestamps: true }).catch(() => {}); // a file deleted but not yet staged
    }
    await run('cp', ['-al', join(ROOT, 'node_modules'), join(clone, 'node_modules')]);
    env = { ...process.env, npm_config_cache: join(dir.path, 'npm-cache'), npm_config_offline: 'true', npm_config_update_notifier: 'false' };
  });
  afterAll(async () => dir?.remove());

  const npx = (args: string[]) => run('npx', args, { cwd: clone, env });

  it('runs through npx once linked, and again after rm -rf dist and a rebuild', async () => {
    // The first run links the package into npx's cache (from the project's own build).
    await cp(join(ROOT, 'dist'), join(clone, 'dist'), { recursive: true });
    await chmod(join(clone, 'dist/src/cli.js'), 0o755);
    expect((await npx(['berth', '--help'])).stdout).toMatch(/^usage: berth/);

    await run('rm', ['-rf', join(clone, 'dist')]);
    await run('npm', ['run', 'build', '--silent'], { cwd: clone, env });
    expect((await stat(join(clone, 'dist/src/cli.js'))).mode & 0o111).toBe(0o111);
    expect((await npx(['berth', '--help'])).stdout).toMatch(/^usage: berth/);
  });
});
