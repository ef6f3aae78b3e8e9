/**
 * Blob pulls as a client that only downloads (`curl -o /dev/null`): one stream of each size
 * (256 MiB and 1 GiB by default), and one blob pulled by 32 clients at once. The bare-Node ceiling
 * serves the very file Berth stored, Berth with 2 workers the same storage; Distribution its copy.
 * The bodies are counted, not hashed, so the client costs little; the digests were checked by the
 * large-blob scenario's pulls and by the tests. Page cache: every target reads a file that was just
 * written or already read, and `sync` runs before each pull.
 */
import { type BlobSpec, makeBlob } from '../data.js';
import { pullMany } from '../load.js';
import { pushPostPut } from '../oci.js';
import { syncDisks } from '../proc.js';
import { mibPerSecond, seconds, turns } from '../results.js';
import type { Target } from '../targets.js';
import { type BenchContext, formatMiB, mibToBytes } from './context.js';

const REPO = 'bench/pull';

/** Pushes `blob` to every target that stores its own copy (Berth, Distribution). */
async function pushEverywhere(ctx: BenchContext, blob: BlobSpec): Promise<void> {
  for (const target of ctx.targets.filter((t) => t.role === 'registry')) await pushPostPut(target.url, REPO, blob);
}

async function timedPull(target: Target, blob: BlobSpec, clients: number): Promise<number> {
  syncDisks();
  const started = process.hrtime.bigint();
  await pullMany(target.url, `/v2/${REPO}/blobs/${blob.digest}`, clients, blob.size);
  return mibPerSecond(blob.size * clients, seconds(started));
}

export async function runPulls(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const targets = ctx.targets.filter((t) => t.role !== 'workers');
  const section = 'Blob pull, one stream, body discarded';
  for (const mib of options.pullMiB) {
    ctx.progress(`pull: pushing a ${formatMiB(mib)} blob`);
    const blob = await makeBlob(`pull-${mib}-${ctx.runId}`, mibToBytes(mib));
    await pushEverywhere(ctx, blob);
    for (const target of targets) await pullMany(target.url, `/v2/${REPO}/blobs/${blob.digest}`, 1, blob.size); // warm-up
    for (let round = 0; round < options.pullRounds; round++) {
      for (const target of turns(targets, round)) {
        ctx.progress(`pull: round ${round + 1}/${options.pullRounds}: ${target.label}: ${formatMiB(mib)}`);
        results.add(section, `pull ${formatMiB(mib)}`, 'MiB/s', 'higher', target.name, await timedPull(target, blob, 1));
      }
    }
  }
}

export async function runConcurrentPulls(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const clients = options.concurrentPulls;
  const section = `${clients} clients pulling one ${formatMiB(options.concurrentMiB)} blob at once, body discarded`;
  ctx.progress(`concurrent pulls: pushing a ${formatMiB(options.concurrentMiB)} blob`);
  const blob = await makeBlob(`concurrent-${ctx.runId}`, mibToBytes(options.concurrentMiB));
  await pushEverywhere(ctx, blob);
  for (const target of ctx.targets) await pullMany(target.url, `/v2/${REPO}/blobs/${blob.digest}`, 1, blob.size); // warm-up
  for (let round = 0; round < options.rounds; round++) {
    for (const target of turns(ctx.targets, round)) {
      ctx.progress(`concurrent pulls: round ${round + 1}/${options.rounds}: ${target.label}: ${clients} x ${formatMiB(options.concurrentMiB)}`);
      results.add(section, 'aggregate throughput', 'MiB/s', 'higher', target.name, await timedPull(target, blob, clients));
    }
  }
}
