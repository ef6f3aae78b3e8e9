/**
 * `npm run bench:s3`: Berth on S3 (s3rver on 127.0.0.1, in this process) as a separate process;
 * a 1 GiB blob pushed in 16 MiB chunks (POST, PATCH with Content-Range, PUT) and pulled back
 * with its digest checked, while Berth's resident memory is sampled. Measurement only.
 *   node dist/bench/s3-memory.js [--size-mib 1024] [--chunk-mib 16]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startS3rver } from '../test/helpers/s3rver.js';
import { makeBlob, randomStream } from './data.js';
import { expectStatus, header, request } from './http.js';
import { freePort, readMemory, waitReady } from './proc.js';
import { BERTH_CLI } from './targets.js';

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, 'chunk-mib': { type: 'string', default: '16' } } });
  const size = Number(values['size-mib']) * MiB;
  const chunk = Number(values['chunk-mib']) * MiB;
  const s3 = await startS3rver();
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-s3-'));
  const options = s3.driverOptions();
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      'storage:',
      '  driver: s3',
      '  s3:',
      `    bucket: ${options.bucket}`,
      `    endpoint: ${options.endpoint}`,
      '    forcePathStyle: true',
      `    accessKeyId: ${options.accessKeyId}`,
      `    secretAccessKey: ${options.secretAccessKey}`,
      '    prefix: bench',
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(process.execPath, [BERTH_CLI, 'serve', '--config', config, '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  let peak = 0;
  const sampler = setInterval(() => {
    const memory = child.pid ? readMemory(child.pid) : undefined;
    if (memory) peak = Math.max(peak, memory.hwm);
  }, 100);
  try {
    await waitReady(`${base}/v2/`, child, () => 'berth on s3');
    const idle = readMemory(child.pid!)?.rss ?? 0;
    const blob = await makeBlob('s3-memory', size);
    const requestsBefore = s3.requests.length;
    const started = Date.now();
    const post = expectStatus(await request(`${base}/v2/bench/s3/blobs/uploads/`, { method: 'POST' }), 202, 'start upload');
    let location = header(post, 'location');
    for (let offset = 0; offset < size; offset += chunk) {
      const length = Math.min(chunk, size - offset);
      const patch = await request(new URL(location, base), {
        method: 'PATCH',
        body: randomStream(blob.seed, offset, length),
        headers: { 'Content-Range': `${offset}-${offset + length - 1}`, 'Content-Length': length },
      });
      location = header(expectStatus(patch, 202, 'PATCH'), 'location');
    }
    expectStatus(await request(new URL(`${location}?digest=${blob.digest}`, base), { method: 'PUT' }), 201, 'PUT');
    const pushSeconds = (Date.now() - started) / 1000;
    const pushRequests = s3.requests.length - requestsBefore;
    const pullStarted = Date.now();
    const pull = expectStatus(await request(`${base}/v2/bench/s3/blobs/${blob.digest}`, { read: 'hash' }), 200, 'GET');
    if (pull.digest !== blob.digest) throw new Error(`pulled ${pull.digest}, pushed ${blob.digest}`);
    const pullSeconds = (Date.now() - pullStarted) / 1000;
    const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
    console.log(`Berth on S3 (s3rver), ${size / MiB} MiB blob in ${chunk / MiB} MiB chunks`);
    console.log(`  push: ${pushSeconds.toFixed(1)} s (${(size / MiB / pushSeconds).toFixed(0)} MiB/s), ${pushRequests} S3 requests`);
    console.log(`  pull: ${pullSeconds.toFixed(1)} s (${(size / MiB / pullSeconds).toFixed(0)} MiB/s), digest checked`);
    console.log(`  Berth resident memory: idle ${mib(idle)}, peak ${mib(peak)}`);
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
