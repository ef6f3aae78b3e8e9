/** The `berth` command as users run it: a real process, real signals. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');

function berth(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function exitOf(child: ReturnType<typeof berth>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr, stdout };
}

describe('berth CLI', { timeout: 30_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir('berth-cli-');
  });
  afterEach(async () => dir.remove());

  it('serves with a config file and --listen, logs the listening line even at level warn, and exits cleanly on SIGTERM', async () => {
    const config = join(dir.path, 'berth.yaml');
    await writeFile(config, 'storage:\n  filesystem:\n    root: ./store\nlog:\n  level: warn\n');
    const child = berth(['serve', '--config', config, '--listen', '127.0.0.1:0']);
    const lines = createInterface({ input: child.stdout! });
    let url = '';
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg: string; url?: string; address?: string };
      if (entry.msg === 'listening') {
        url = entry.url!;
        expect(entry.address).toMatch(/^127\.0\.0\.1:\d+$/);
        break;
      }
    }
    const res = await fetch(`${url}/v2/`);
    expect(res.status).toBe(200);
    const push = await fetch(`${url}/v2/cli/test/blobs/uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824`, {
      method: 'POST',
      body: 'hello',
    });
    expect(push.status).toBe(201);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(dir.path, 'store/blobs/sha256/2c'))).isDirectory()).toBe(true);
  });

  it('refuses a bad config at start with a message naming the key (exit 2)', async () => {
    const config = join(dir.path, 'bad.yaml');
    await writeFile(config, 'storage:\n  driver: floppy\n');
    const result = await exitOf(berth(['serve', '--config', config]));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/storage\.driver: must be one of/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('refuses an unknown BERTH_ variable and an unknown command', async () => {
    const env = await exitOf(berth(['serve', '--listen', '127.0.0.1:0'], { BERTH_STORAGE_DRIVR: 'memory' }));
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/BERTH_STORAGE_DRIVR: unknown setting/);
    const command = await exitOf(berth(['sail']));
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/unknown command "sail"/);
    const flag = await exitOf(berth(['serve', '--lisen', 'x']));
    expect(flag.code).toBe(2);
    const workers = await exitOf(berth(['serve', '--listen', '127.0.0.1:0', '--workers', 'lots']));
    expect(workers.code).toBe(2);
    expect(workers.stderr).toMatch(/--workers: a number from 1 or auto/);
  });

  it('prints usage on --help (exit 0) and without a command (exit 2), and its version', async () => {
    const result = await exitOf(berth(['--help']));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: berth <command>/);
    expect(result.stdout).toMatch(/user list/);
    expect(result.stdout).toMatch(/builds list\|logs\|trigger\|cancel/);
    const bare = await exitOf(berth([]));
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/usage: berth <command>/);
    const version = await exitOf(berth(['--version']));
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^berth \d+\.\d+\.\d+\n$/);
  });

  it('answers an argument mistake with one line and where the usage is, not the whole usage', async () => {
    const result = await exitOf(berth(['gc', '--grace', 'soon']));
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('berth: --grace: not a duration (like 30m, 1h, 7d): soon\nberth gc --help shows the usage\n');
  });

  it('explains unreachable storage at start in one line naming it (exit 1)', async () => {
    const { createServer } = await import('node:net');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
    const result = await exitOf(
      berth(['serve', '--listen', '127.0.0.1:0'], {
        BERTH_AUTH_MODE: 'token', // the signing key is read from storage at start
        BERTH_STORAGE_DRIVER: 's3',
        BERTH_STORAGE_S3_BUCKET: 'berth',
        BERTH_STORAGE_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        BERTH_STORAGE_S3_FORCEPATHSTYLE: 'true',
        BERTH_STORAGE_S3_ACCESSKEYID: 'id',
        BERTH_STORAGE_S3_SECRETACCESSKEY: 'secret',
      }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`berth: storage s3 bucket berth at http://127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); check storage.* in the config and that the storage server runs\n`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('explains a busy port in one line, without a stack trace (exit 1)', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const result = await exitOf(berth(['serve', '--listen', `127.0.0.1:${port}`], { BERTH_STORAGE_DRIVER: 'memory' }));
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`berth: cannot listen on 127.0.0.1:${port}: the address is in use (another Berth or another program holds the port); stop it or choose another address with --listen or BERTH_LISTEN\n`);
    } finally {
      holder.close();
    }
  });
});
