/**
 * Events end to end, as users run them: skopeo pushes and deletes; the compiled `berth` killed
 * with SIGKILL after a push was answered while the receiver was down, then both come back and the
 * event arrives; and the commands: `berth events`, `events test`, `events status`, `tag history`,
 * `berth rm` (actor cli) and `berth gc --delete-untagged` (actor gc) on the storage, delivered by
 * the running server; and README's receiver example, run as written.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { makeTestLayout, run } from '../helpers/images.js';
import { freePort, Receiver } from '../helpers/receiver.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const SECRET = 'e2e-test-secret-0123456789abcdef';

function configText(root: string, url: string, extra = ''): string {
  return [
    `storage: { filesystem: { root: ${JSON.stringify(root)} } }`,
    'log: { level: warn }',
    'notifications:',
    '  lease: 1s',
    '  poll: 100ms',
    '  backoff: { initial: 100ms, max: 500ms }',
    '  endpoints:',
    `    - { name: hook, url: ${JSON.stringify(url)}, secret: ${SECRET}, events: [push, delete] }`,
    extra,
  ].join('\n');
}

async function berth(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** `berth serve` in its own process; resolves with its URL once it listens. */
async function serve(config: string, processes: ChildProcess[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  processes.push(child);
  // Lines are read to the end (a full pipe would stall the server), the URL taken from `listening`.
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg === 'listening') resolve(entry.url!);
    });
    child.once('exit', () => reject(new Error('berth serve ended before listening')));
  });
  return { child, url };
}

async function pushSmallImage(client: Client, name: string, tag: string): Promise<string> {
  const config = `{"architecture":"amd64","os":"linux","seed":"${Math.random()}"}`;
  await client.pushBlob(name, config);
  return client.pushManifest(name, tag, imageManifest([sha256(config), config.length], []));
}

describe('events end to end', { timeout: 120_000 }, () => {
  const processes: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const child of processes.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const dir = await tempDir('berth-events-e2e-');
    cleanups.push(dir.remove);
    return dir.path;
  }

  /** A receiver, and Berth serving a fresh storage with the receiver as endpoint `hook`. */
  async function berthWithReceiver() {
    const work = await setup();
    const hooks = await Receiver.start(SECRET);
    cleanups.push(() => hooks.close());
    const config = join(work, 'berth.yaml');
    await writeFile(config, configText(join(work, 'data'), `${hooks.url}/hook`));
    const { url } = await serve(config, processes);
    return { work, hooks, config, url };
  }

  it('tells of a skopeo push by tag and a skopeo delete, in order, signed', async () => {
    const { work, hooks, url } = await berthWithReceiver();
    const host = new URL(url).host;
    const layout = await makeTestLayout(work);
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${host}/demo/app:v1`]);
    const digest = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/demo/app:v1`])).stdout;
    await run('skopeo', ['delete', '--tls-verify=false', `docker://${host}/demo/app:v1`]);
    await hooks.waitFor(() => hooks.accepted().length === 3);
    const [pushed, deleted, untagged] = hooks.accepted();
    expect(pushed).toMatchObject({ action: 'push', target: { repository: 'demo/app', tag: 'v1', digest: sha256(digest), size: Buffer.byteLength(digest) }, request: { method: 'PUT', useragent: expect.stringMatching(/^skopeo\//) } });
    expect(deleted).toMatchObject({ action: 'delete', target: { repository: 'demo/app', digest: sha256(digest) } });
    expect(deleted!.target.tag).toBeUndefined();
    expect(untagged).toMatchObject({ action: 'delete', target: { repository: 'demo/app', tag: 'v1', digest: sha256(digest) } });
    expect(hooks.deliveries.every((d) => d.verified && d.status === 204)).toBe(true);
  });

  it('delivers an event answered before Berth was killed (SIGKILL) while the receiver was down, once both are back', async () => {
    const work = await setup();
    const port = await freePort();
    const config = join(work, 'berth.yaml');
    await writeFile(config, configText(join(work, 'data'), `http://127.0.0.1:${port}/hook`));
    const first = await serve(config, processes);
    const digest = await pushSmallImage(new Client(first.url), 'demo/app', 'v1');
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const hooks = await Receiver.start(SECRET, port);
    cleanups.push(() => hooks.close());
    const second = await serve(config, processes);
    await hooks.waitFor(() => hooks.accepted().length === 1);
    expect(hooks.accepted()[0]).toMatchObject({ action: 'push', target: { repository: 'demo/app', tag: 'v1', digest } });
    expect(hooks.deliveries[0]!.verified).toBe(true);
    // The same event as in the journal: the id is stable across the restart and the retries.
    const journal = await new Client(second.url).get('/api/events');
    expect(journal.json.events.map((e: { id: string }) => e.id)).toEqual([hooks.accepted()[0]!.id]);
  });

  it('berth events, events test, events status, tag history, and rm and gc journaled as cli and gc', async () => {
    const { hooks, config, url } = await berthWithReceiver();
    const client = new Client(url);
    const v1 = await pushSmallImage(client, 'demo/app', 'prod');
    const v2 = await pushSmallImage(client, 'demo/app', 'prod');
    await pushSmallImage(client, 'other/app', 'v1');

    const tested = await berth(['events', 'test', 'hook', '--config', config]);
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/hook \(distribution, event \S+, signed\)\n204 in \d+ ms\n/);
    await hooks.waitFor(() => hooks.deliveries.some((d) => d.events[0]!.action === 'test'));
    expect(hooks.deliveries.find((d) => d.events[0]!.action === 'test')!.verified).toBe(true);
    const unknown = await berth(['events', 'test', 'nope', '--config', config]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no endpoint "nope" in notifications.endpoints (there: hook)');

    // berth rm on the storage: an event with actor cli, delivered by the running server.
    expect((await berth(['rm', 'demo/app:prod', '--config', config])).code).toBe(0);
    // gc deletes the two manifests no tag reaches any more: events with actor gc.
    const gc = await berth(['gc', '--delete-untagged', '--grace', '0', '--config', config]);
    expect(gc.code).toBe(0);
    expect(gc.stdout).toContain('deleted: 2 untagged manifests');
    await hooks.waitFor(() => hooks.accepted().filter((e) => e.actor.name === 'gc').length === 2);
    expect(hooks.accepted().find((e) => e.actor.name === 'cli' && e.action !== 'test')).toMatchObject({ action: 'delete', target: { repository: 'demo/app', tag: 'prod', digest: v2 } });
    expect(hooks.accepted().filter((e) => e.actor.name === 'gc').map((e) => e.target.digest).sort()).toEqual([v1, v2].sort());

    const history = await berth(['tag', 'history', 'demo/app:prod', '--config', config]);
    expect(history.code).toBe(0);
    const rows = history.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^TIME\s+ACTION\s+DIGEST\s+BY\s+CLIENT$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(1, 4))).toEqual([
      ['push', v1, '-'],
      ['push', v2, '-'],
      ['delete', v2, 'cli'],
    ]);
    const overHttp = await berth(['tag', 'history', 'demo/app:prod', '--url', url, '--json']);
    expect(JSON.parse(overHttp.stdout).map((e: { target: { digest: string } }) => e.target.digest)).toEqual([v1, v2, v2]);

    const listed = JSON.parse((await berth(['events', '--config', config, '--repository', 'demo/*', '--action', 'delete', '--json'])).stdout);
    expect(listed.map((e: { actor: { name?: string } }) => e.actor.name)).toEqual(['cli', 'gc', 'gc']);
    const table = (await berth(['events', '--url', url, '--since', '1h', '-n', '2'])).stdout.trim().split('\n');
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^TIME\s+ACTION\s+TARGET\s+BY\s+CLIENT$/);
    expect(table[2]).toMatch(/\sdelete\s+demo\/app@sha256:[0-9a-f]{12}\s+gc\s+-$/);
    const bad = await berth(['events', '--action', 'explode', '--config', config]);
    expect(bad.code).toBe(2);

    await hooks.waitFor(() => hooks.accepted().length === 7); // 3 pushes, the test event, rm's and gc's 3 deletes
    const status = JSON.parse((await berth(['events', 'status', '--json', '--config', config])).stdout);
    expect(status).toEqual([{ endpoint: 'hook', configured: true, waiting: 0, failures: 0, replica: expect.any(String), renewedAt: expect.any(String) }]);
  });

  it("README's receiver example accepts Berth's signed events and refuses a bad signature", async () => {
    const work = await setup();
    const readme = await readFile(join(import.meta.dirname, '../../README.md'), 'utf8');
    const block = /^<!-- readme-test: events-receiver -->\n```js\n([\s\S]*?)^```$/m.exec(readme);
    expect(block, 'README has no block marked readme-test: events-receiver').not.toBeNull();
    await writeFile(join(work, 'receiver.mjs'), block![1]!);
    const port = await freePort();
    const receiver = spawn(process.execPath, [join(work, 'receiver.mjs')], { env: { PATH: process.env.PATH, PORT: String(port), WEBHOOK_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'inherit'] });
    processes.push(receiver);
    let output = '';
    receiver.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    const config = join(work, 'berth.yaml');
    await writeFile(config, configText(join(work, 'data'), `http://127.0.0.1:${port}/`));
    const { url } = await serve(config, processes);
    await pushSmallImage(new Client(url), 'demo/app', 'v1');
    const end = Date.now() + 20_000;
    while (!output.includes('push demo/app:v1 by -') && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('push demo/app:v1 by -\n');
    const forged = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"events":[]}', headers: { 'X-Berth-Signature-256': `sha256=${'0'.repeat(64)}` } });
    expect(forged.status).toBe(401);
    const unsigned = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"events":[]}' });
    expect(unsigned.status).toBe(401);
  });
});
