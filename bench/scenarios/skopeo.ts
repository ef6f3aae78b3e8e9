/**
 * A real client: `skopeo copy` of an OCI layout made with umoci (a few layers of random files)
 * into each registry, then back out into a fresh layout. Every round builds a new layout whose
 * bytes include this run's id, so skopeo's blob-info cache never knows the blobs and cannot turn
 * a push into cross-repository mounts.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomStream } from '../data.js';
import { commandExists, trackChild } from '../proc.js';
import { seconds, turns } from '../results.js';
import { type BenchContext, registries, mibToBytes } from './context.js';

const LAYERS = 3;

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}): ${stderr.trim().slice(-1000)}`));
    });
  });
}

async function buildLayout(dir: string, seed: string, layerBytes: number): Promise<string> {
  const layout = join(dir, 'oci');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:bench`]);
  for (let l = 0; l < LAYERS; l++) {
    const source = join(dir, `layer-${l}`);
    await mkdir(source, { recursive: true });
    await pipeline(randomStream(`${seed}-${l}`, 0, layerBytes), createWriteStream(join(source, 'data.bin')));
    await run('umoci', ['insert', '--image', `${layout}:bench`, source, `/layer-${l}`]);
  }
  return layout;
}

export async function runSkopeo(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const targets = registries(ctx);
  if (options.skopeoRounds === 0) return;
  const missing = ['skopeo', 'umoci'].filter((c) => !commandExists(c));
  if (missing.length > 0) {
    ctx.note(`skopeo scenario skipped: ${missing.join(' and ')} not installed (apt-get install -y skopeo umoci)`);
    return;
  }
  const layerMiB = options.quick ? 2 : 8;
  const section = `skopeo copy of an umoci OCI layout (${LAYERS} layers of ${layerMiB} MiB random files, gzip)`;
  for (let round = 0; round < options.skopeoRounds; round++) {
    const dir = join(ctx.scratch, `skopeo-${round}`);
    ctx.progress(`skopeo: round ${round + 1}/${options.skopeoRounds}: building an OCI layout with umoci`);
    const layout = await buildLayout(dir, `skopeo-${ctx.runId}-${round}`, mibToBytes(layerMiB));
    for (const target of turns(targets, round)) {
      const ref = `docker://127.0.0.1:${target.port}/bench/skopeo:r${round}`;
      ctx.progress(`skopeo: round ${round + 1}/${options.skopeoRounds}: ${target.label}: push, pull`);
      const pushStarted = process.hrtime.bigint();
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, ref]);
      results.add(section, 'push: skopeo copy oci: -> docker://', 's', 'lower', target.name, seconds(pushStarted));
      const pullStarted = process.hrtime.bigint();
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ref, `oci:${join(dir, `pulled-${target.name}`)}:bench`]);
      results.add(section, 'pull: skopeo copy docker:// -> oci:', 's', 'lower', target.name, seconds(pullStarted));
    }
  }
}
