/**
 * README's examples, run as a user would paste them, so README cannot drift from the code: every
 * shell block marked `<!-- readme-test: NAME -->` runs in bash (`set -euo pipefail`), in order,
 * against a Berth started with the config README gives for that part. What differs from a user's
 * machine is only where things live:
 * - `127.0.0.1:5000` (and `registry.example.com`) become the test server's address;
 * - `berth` on PATH is the compiled CLI of this checkout;
 * - podman, buildah and skopeo get a private storage, registries config (the test registry is
 *   plain HTTP) and credentials file through CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF
 *   and REGISTRY_AUTH_FILE, so nothing touches the machine's own (skopeo 1.9 reads no variable for
 *   the registries config: a `skopeo` on PATH passes it with --registries-conf);
 * - `skopeo login` and `podman login` get `--tls-verify=false`, as README says for a plain-HTTP
 *   registry (they ignore registries.conf's `insecure`);
 * - lines that run `docker` are left out: no Docker engine runs here (or in CI).
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
    await writeFile(join(bin, 'skopeo'), '#!/bin/sh\nexec /usr/bin/skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" "$@"\n');
    await chmod(join(bin, 'skopeo'), 0o755);
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

  function block(name: string): string {
    const found = blocks.get(name);
    expect(found, `README has no block marked readme-test: ${name}`).toBeDefined();
    return found!;
  }

  /**
   * Runs README's block `name` with the registry at `host` (or README's addresses mapped to the
   * test servers' in `hosts`); returns its output.
   */
  async function runBlock(name: string, host: string | Record<string, string>, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
    const hosts = typeof host === 'string' ? { '127.0.0.1:5000': host, 'registry.example.com': host } : host;
    // One pass, and a port must end where README's does: 127.0.0.1:5000 is not in 127.0.0.1:50001.
    const readmeAddress = new RegExp(`(?:${Object.keys(hosts).map((h) => h.replaceAll('.', '\\.')).join('|')})(?!\\d)`, 'g');
    const script = block(name)
      .split('\n')
      .filter((line) => !/(^|\|\s*)docker /.test(line))
      .join('\n')
      .replace(readmeAddress, (address) => hosts[address]!)
      // `login` asks for HTTPS whatever registries.conf says: README's own advice for a plain-HTTP registry.
      .replace(/\b(skopeo|podman) login /g, '$1 login --tls-verify=false ');
    const insecure = [...new Set(Object.values(hosts))].map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`);
    await writeFile(join(work.path, 'registries.conf'), insecure.join('\n'));
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: work.path,
      env: { ...env, ...extraEnv, CONTAINERS_REGISTRIES_CONF: join(work.path, 'registries.conf') },
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
    await server.close();
    servers.splice(servers.indexOf(server), 1);
  });

  it('"Authentication": the team story, with README\'s own config', async () => {
    // The config as README gives it, in the folder the commands run in (its ./data is the storage).
    await writeFile(join(work.path, 'berth.yaml'), block('team-config'));
    const server = await startTestServer(loadConfig({ file: join(work.path, 'berth.yaml'), env: {}, cwd: work.path }));
    servers.push(server);
    const anonymous = (path: string) => fetch(`${server.url}${path}`).then((res) => res.status);

    expect(await runBlock('team-users', server.host)).toMatch(/^alice\ncarol\nci\n/m);
    await runBlock('team-login', server.host);
    expect(await anonymous('/v2/public/tool/manifests/latest')).toBe(200);
    expect(await anonymous('/v2/team-a/app/manifests/1.0')).toBe(401);

    const created = await runBlock('team-token', server.host);
    expect(created).not.toMatch(/warning/);
    const secret = /^secret:\s+(berth_\S+)$/m.exec(created)![1]!;
    await runBlock('team-ci', server.host, { REGISTRY_TOKEN: secret });
    const ci = await fetch(`${server.url}/v2/team-a/app/manifests/1.1`, { headers: { Authorization: `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}` } });
    expect(ci.status).toBe(200);
  });

  it('"Pull-through cache and mirrors": its examples load, a second Berth caches the first and serves it while the first is down', async () => {
    // The example configs as README gives them are accepted as they are.
    for (const example of [block('proxy-example'), await readFile(join(ROOT, 'config/examples/proxy.yaml'), 'utf8')]) {
      await writeFile(join(work.path, 'example.yaml'), example);
      const { proxies, mirrors } = loadConfig({ file: join(work.path, 'example.yaml'), env: {}, cwd: work.path });
      expect(proxies.map((p) => p.prefix)).toEqual(['hub', 'ghcr', 'quay']);
      expect(mirrors.namespaces).toBe(true);
    }

    // "npm start" (the embedded default) is the upstream; cache.yaml as README gives it, the cache.
    const upstream = await startTestServer(loadConfig({ file: DEFAULT_CONFIG_FILE, env: { BERTH_STORAGE_FILESYSTEM_ROOT: join(work.path, 'upstream-data') } }));
    servers.push(upstream);
    await writeFile(join(work.path, 'cache.yaml'), block('proxy-config').replaceAll('127.0.0.1:5000', upstream.host));
    const cache = await startTestServer(loadConfig({ file: join(work.path, 'cache.yaml'), env: {}, cwd: work.path }));
    servers.push(cache);
    const hosts = { '127.0.0.1:5000': upstream.host, '127.0.0.1:5001': cache.host };

    const pulled = await runBlock('proxy-pull', hosts);
    expect(pulled).toContain('{"repositories":["up/tools/base"]}');
    expect(pulled).toMatch(/^arm64$/m); // the tag moved upstream, and the cache followed
    expect(pulled).toContain(`"code":"DENIED","message":"up/ is a pull-through cache of http://${upstream.host}`);
    expect(pulled).toMatch(/^pinned\/base:1@sha256:[0-9a-f]{64} /m);
    expect(pulled).toMatch(/^berth_proxy_requests_total\{proxy="up",kind="blob",result="miss"\} [1-9]/m);

    await upstream.close();
    servers.splice(servers.indexOf(upstream), 1);
    const offline = await runBlock('proxy-offline', hosts);
    expect(offline).toMatch(/"code":"UNAVAILABLE","message":"upstream http:\/\/127\.0\.0\.1:\d+ could not be reached for manifest tools\/other:1/);
    expect(cache.logs.some((line) => line.msg === 'proxy: upstream failed, serving the cached copy')).toBe(true);
  });
});
