/**
 * README's examples, run as a user would paste them, so README cannot drift from the code: every
 * shell block marked `<!-- readme-test: NAME -->` runs in bash (`set -euo pipefail`), in order,
 * against a Berth started with the config README gives for that part. What differs from a user's
 * machine is only where things live:
 * - `127.0.0.1:5000` (and `registry.example.com`) become the test server's address;
 * - `berth` on PATH is the compiled CLI of this checkout;
 * - podman, buildah and skopeo get a private storage, registries config (the test registry is
 *   plain HTTP) and credentials file through CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF
 *   and REGISTRY_AUTH_FILE, so nothing touches the machine's own.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config.js';
import { run } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');

/** The fenced block that follows each `<!-- readme-test: NAME -->` marker, by name. */
export function markedBlocks(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const marker = /^<!-- readme-test: ([a-z0-9-]+) -->\n```[a-z]*\n([\s\S]*?)^```$/gm;
  for (const match of readme.matchAll(marker)) blocks.set(match[1]!, match[2]!);
  return blocks;
}

describe('README, followed as a user would', { timeout: 300_000 }, () => {
  let work: { path: string; remove: () => Promise<void> };
  let blocks: Map<string, string>;
  let env: NodeJS.ProcessEnv;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    work = await tempDir('berth-readme-');
    blocks = markedBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
    const bin = join(work.path, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'berth'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/src/cli.js')}" "$@"\n`);
    await chmod(join(bin, 'berth'), 0o755);
    await writeFile(join(work.path, 'auth.json'), '{}\n', { mode: 0o600 });
    await writeFile(
      join(work.path, 'storage.conf'),
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(work.path, 'containers/root')}"\nrunroot = "${join(work.path, 'containers/run')}"\n`,
    );
    env = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: work.path,
      CONTAINERS_STORAGE_CONF: join(work.path, 'storage.conf'),
      REGISTRY_AUTH_FILE: join(work.path, 'auth.json'),
    };
  });

  afterAll(async () => {
    for (const server of servers) await server.close();
    if (work) {
      await run('podman', ['system', 'reset', '--force'], { env: { ...process.env, ...env } }).catch(() => {});
      await work.remove();
    }
  });

  /** Runs README's block `name` with the registry at `host`; returns its output. */
  async function runBlock(name: string, host: string): Promise<string> {
    const block = blocks.get(name);
    expect(block, `README has no block marked readme-test: ${name}`).toBeDefined();
    const script = block!.replaceAll('127.0.0.1:5000', host).replaceAll('registry.example.com', host);
    await writeFile(join(work.path, 'registries.conf'), `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: work.path,
      env: { ...env, CONTAINERS_REGISTRIES_CONF: join(work.path, 'registries.conf') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, `README block ${name} failed:\n${script}\n--- output ---\n${output}`).toBe(0);
    return output;
  }

  it('"Use it", "The HTTP API by hand" and the admin commands, against the embedded default config', async () => {
    const config = loadConfig({ file: DEFAULT_CONFIG_FILE, env: { BERTH_STORAGE_FILESYSTEM_ROOT: join(work.path, 'data') } });
    const server = await startTestServer(config);
    servers.push(server);

    await runBlock('images', server.host);
    const used = await runBlock('use-it', server.host);
    expect(used).toMatch(/"architecture": ?"arm64"/); // the index went up whole
    expect(used).toMatch(/"Tags": \[\s*"1",\s*"2"\s*\]/);

    const byHand = await runBlock('http-api', server.host);
    expect(byHand).toContain('HTTP/1.1 201 Created');
    expect(byHand).toContain('ell');
    expect(byHand).toMatch(/"artifactType":"application\/spdx\+json"/);
    expect(byHand).toMatch(/"platforms":\["linux\/amd64","linux\/arm64"\]/);
    expect((await fetch(`${server.url}/v2/demo/app/manifests/1`)).status).toBe(404);

    const admin = await runBlock('admin-cli', server.host);
    expect(admin).toMatch(/^demo\/multi\s+1\s+/m);
    expect(admin).toMatch(/^1\s+sha256:\S+\s+\S+ \S+\s+linux\/amd64,linux\/arm64\s/m);
    expect(admin).toContain('deleted tag demo/multi:1');
    expect(admin).toMatch(/^\S+\s+push\s+demo\/app:1@sha256:[0-9a-f]{12}\s/m); // berth events
    expect(admin).toMatch(/^\S+\s+delete\s+sha256:[0-9a-f]{64}\s/m); // berth tag history
  });
});
