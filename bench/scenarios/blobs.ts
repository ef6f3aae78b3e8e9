/**
 * Large blob throughput: monolithic (POST + PUT with the body), chunked (POST, PATCH chunks with
 * Content-Range, PUT), Berth's single `POST ?digest=` where supported, then GETs of what went up,
 * each hashed and checked. Resident memory is watched during each, for the memory table.
 */
import { type BlobSpec, makeBlob } from '../data.js';
import { pullBlob, pushChunked, pushPostPut, pushSinglePost, supportsSinglePost } from '../oci.js';
import { syncDisks, withPeakMemory } from '../proc.js';
import { mibPerSecond, seconds, turns } from '../results.js';
import type { Target, TargetName } from '../targets.js';
import { type BenchContext, formatMiB, mibToBytes, registries } from './context.js';

const REPO = 'bench/large';

interface PushFlow {
  name: string;
  seed: string;
  supported(target: Target): boolean;
  push(target: Target, blob: BlobSpec): Promise<void>;
}

export async function runLargeBlobs(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const targets = registries(ctx);
  // The ceiling pulls what Berth stored, next to the registries.
  const pullers = ctx.targets.filter((t) => t.role !== 'workers');
  const size = mibToBytes(options.blobMiB);
  const chunk = mibToBytes(options.chunkMiB);
  const section = `Large blob, ${formatMiB(options.blobMiB)}: throughput`;
  const memorySection = `Peak resident memory during ${formatMiB(options.blobMiB)} transfers`;

  const singlePost = new Map<TargetName, boolean>();
  for (const target of targets) singlePost.set(target.name, await supportsSinglePost(target.url, REPO));

  const flows: PushFlow[] = [
    { name: 'push monolithic (POST, PUT body)', seed: 'large-postput', supported: () => true, push: (t, b) => pushPostPut(t.url, REPO, b) },
    { name: `push chunked (PATCH ${formatMiB(options.chunkMiB)})`, seed: 'large-chunked', supported: () => true, push: (t, b) => pushChunked(t.url, REPO, b, chunk) },
    {
      name: 'push single POST ?digest=',
      seed: 'large-single',
      supported: (t) => singlePost.get(t.name) === true,
      push: (t, b) => pushSinglePost(t.url, REPO, b),
    },
  ];

  for (let round = 0; round < options.rounds; round++) {
    ctx.progress(`large blobs: round ${round + 1}/${options.rounds}: generating and hashing ${formatMiB(options.blobMiB)} test blobs`);
    const pulls: BlobSpec[] = [];
    for (const [index, flow] of flows.entries()) {
      if (!targets.some((t) => flow.supported(t))) continue;
      const blob = await makeBlob(`${flow.seed}-${round}`, size);
      for (const target of turns(targets, round + index)) {
        if (!flow.supported(target)) {
          results.missing(section, flow.name, 'MiB/s', 'higher', target.name, 'unsupported (answers 202 and drops the body)');
          continue;
        }
        ctx.progress(`large blobs: ${target.label}: ${flow.name}`);
        syncDisks();
        const started = process.hrtime.bigint();
        const { peakMiB } = await withPeakMemory(target.pid, () => flow.push(target, blob));
        results.add(section, flow.name, 'MiB/s', 'higher', target.name, mibPerSecond(size, seconds(started)));
        results.add(memorySection, flow.name, 'MiB', 'lower', target.name, peakMiB);
      }
      if (targets.every((t) => flow.supported(t))) pulls.push(blob);
    }
    for (const [index, blob] of pulls.entries()) {
      for (const target of turns(pullers, round + index)) {
        ctx.progress(`large blobs: ${target.label}: pull ${blob.seed}`);
        const started = process.hrtime.bigint();
        const { peakMiB } = await withPeakMemory(target.pid, () => pullBlob(target.url, REPO, blob.digest, blob.size));
        results.add(section, 'pull (GET, digest checked)', 'MiB/s', 'higher', target.name, mibPerSecond(size, seconds(started)));
        results.add(memorySection, 'pull (GET)', 'MiB', 'lower', target.name, peakMiB);
      }
    }
  }
}
