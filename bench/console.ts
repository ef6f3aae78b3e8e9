/**
 * `npm run bench:console [-- --repositories N]`: how fast the console's front page opens on a
 * registry with many repositories (default 10,000, filesystem storage). The repositories are laid
 * out directly in the storage (one tag each, pushed at different times, sharing one small image),
 * then Berth starts and this measures, over HTTP:
 * - the first `/api/repositories?sort=pushed&n=50` after start (it waits for the index's first
 *   scan when the warm-up at start has not finished);
 * - the same request warm (median and slowest of 20): what every later visitor waits for;
 * - the page itself (index.html and its script).
 * Measurement only: nothing passes or fails on time. Numbers are noisy on a shared machine.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH_CLI } from './targets.js';

const { values } = parseArgs({ options: { repositories: { type: 'string', default: '10000' } } });
const count = Number(values.repositories);
const root = await mkdtemp(join(tmpdir(), 'berth-bench-console-'));

async function blob(content: Buffer): Promise<string> {
  const hex = createHash('sha256').update(content).digest('hex');
  const dir = join(root, 'blobs/sha256', hex.slice(0, 2), hex);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data'), content);
  return `sha256:${hex}`;
}

async function layout(): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {} }));
  const layer = Buffer.alloc(1024, 1);
  const configDigest = await blob(config);
  const layerDigest = await blob(layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const digest = await blob(manifest);
  const hex = digest.slice('sha256:'.length);
  const now = Date.now() / 1000;
  for (let i = 0; i < count; i += 1) {
    const repo = join(root, 'repositories', `team-${i % 100}`, `app-${i}`);
    const tag = join(repo, '_manifests/tags/latest/current');
    const revision = join(repo, '_manifests/revisions/sha256', hex);
    await mkdir(tag, { recursive: true });
    await mkdir(revision, { recursive: true });
    await writeFile(join(tag, 'link'), digest);
    await writeFile(join(revision, 'link'), digest);
    for (const d of [configDigest, layerDigest]) {
      const link = join(repo, '_layers/sha256', d.slice(7));
      await mkdir(link, { recursive: true });
      await writeFile(join(link, 'link'), d);
    }
    const pushed = now - (count - i) * 60; // one push a minute, the last repository newest
    await utimes(join(tag, 'link'), pushed, pushed);
  }
}

async function timed(url: string): Promise<{ ms: number; status: number; bytes: number }> {
  const start = performance.now();
  const res = await fetch(url);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - start, status: res.status, bytes };
}

const made = performance.now();
await layout();
console.log(`laid out ${count} repositories in ${((performance.now() - made) / 1000).toFixed(1)} s`);
const configFile = join(root, 'bench.yaml');
await writeFile(configFile, `storage: { driver: filesystem, filesystem: { root: ${JSON.stringify(root)} } }\nlog: { level: warn }\n`);
const child = spawn(process.execPath, [BERTH_CLI, 'serve', '--config', configFile, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
try {
  const started = performance.now();
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(out) ?? /listening[^\n]*?(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`berth exited with ${code}: ${out}`)));
  });
  const list = `${url}/api/repositories?sort=pushed&n=50`;
  const first = await timed(list);
  console.log(`first list after start (${((performance.now() - started) / 1000).toFixed(1)} s after spawn): ${first.ms.toFixed(0)} ms, ${first.status}, ${first.bytes} bytes`);
  const warm: number[] = [];
  for (let i = 0; i < 20; i += 1) warm.push((await timed(list)).ms);
  warm.sort((a, b) => a - b);
  console.log(`warm list of 50 (20 runs): median ${warm[10]!.toFixed(1)} ms, slowest ${warm[19]!.toFixed(1)} ms`);
  const searched = await timed(`${list}&q=app-99`);
  console.log(`search q=app-99: ${searched.ms.toFixed(1)} ms`);
  const page = await timed(`${url}/`);
  const html = await (await fetch(`${url}/`)).text();
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  const asset = script ? await timed(`${url}${script}`) : undefined;
  console.log(`index.html: ${page.ms.toFixed(1)} ms; script: ${asset ? `${asset.ms.toFixed(1)} ms, ${asset.bytes} bytes` : 'not built'}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await rm(root, { recursive: true, force: true });
}
