/**
 * A typical image as docker and skopeo push it: every layer in parallel (docker's default of 5
 * concurrent uploads), each HEAD -> POST -> one streamed PATCH -> PUT ?digest=, then the config,
 * then the manifest. Then pulled back as docker does: manifest, config, layers 3 at a time,
 * every digest checked. Each image has new layers, so nothing is skipped as already there.
 */
import type { Agent } from 'node:http';
import { type BlobSpec, makeBlob, seededSizes } from '../data.js';
import { keepAliveAgent } from '../http.js';
import { getManifest, imageConfig, imageManifest, OCI_CONFIG, OCI_LAYER, pullBlob, pushLikeClients, pushSmallBlob, putManifest, type Descriptor } from '../oci.js';
import { syncDisks } from '../proc.js';
import { MiB, mibPerSecond, seconds, turns } from '../results.js';
import type { Target } from '../targets.js';
import { type BenchContext, registries, mibToBytes } from './context.js';

const REPO = 'bench/app';
const PULL_CONCURRENCY = 3;

async function pushImage(target: Target, tag: string, layers: BlobSpec[], config: Buffer, agent: Agent): Promise<void> {
  await Promise.all(layers.map((layer) => pushLikeClients(target.url, REPO, layer, agent)));
  const configDigest = await pushSmallBlob(target.url, REPO, config, agent);
  const descriptors = layers.map((l): Descriptor => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size }));
  await putManifest(target.url, REPO, tag, imageManifest({ mediaType: OCI_CONFIG, digest: configDigest, size: config.length }, descriptors), agent);
}

async function pullImage(target: Target, tag: string, agent: Agent): Promise<void> {
  const manifest = JSON.parse((await getManifest(target.url, REPO, tag, agent)).toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  await pullBlob(target.url, REPO, manifest.config.digest, manifest.config.size, agent);
  const queue = [...manifest.layers];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) await pullBlob(target.url, REPO, next.digest, next.size, agent);
  };
  await Promise.all(Array.from({ length: PULL_CONCURRENCY }, worker));
}

export async function runImages(ctx: BenchContext): Promise<void> {
  const { options, results } = ctx;
  const targets = registries(ctx);
  const section = `Typical image: ${options.layers} layers of ${options.layerMinMiB}-${options.layerMaxMiB} MiB, config, manifest`;
  const min = mibToBytes(options.layerMinMiB);
  const max = mibToBytes(options.layerMaxMiB);
  const agents = new Map(targets.map((t) => [t.name, keepAliveAgent(8)]));
  const totals = new Map(targets.map((t) => [t.name, { bytes: 0, pushS: 0, pullS: 0 }]));
  try {
    for (let i = 0; i < options.images; i++) {
      const sizes = seededSizes(`image-${i}`, options.layers, min, max);
      const layers = await Promise.all(sizes.map((size, l) => makeBlob(`image-${i}-layer-${l}`, size)));
      const total = sizes.reduce((a, b) => a + b, 0);
      const config = imageConfig(`image-${i}`, layers.map((l) => l.digest));
      const tag = `v${i}`;
      for (const target of turns(targets, i)) {
        ctx.progress(`image ${i + 1}/${options.images} (${(total / MiB).toFixed(1)} MiB): ${target.label}: push, pull`);
        const agent = agents.get(target.name)!;
        syncDisks();
        const pushStarted = process.hrtime.bigint();
        await pushImage(target, tag, layers, config, agent);
        const pushS = seconds(pushStarted);
        const pullStarted = process.hrtime.bigint();
        await pullImage(target, tag, agent);
        const pullS = seconds(pullStarted);
        results.add(section, 'push: seconds per image (mean)', 's', 'lower', target.name, pushS, 'mean');
        results.add(section, 'pull: seconds per image (mean)', 's', 'lower', target.name, pullS, 'mean');
        const sum = totals.get(target.name)!;
        sum.bytes += total;
        sum.pushS += pushS;
        sum.pullS += pullS;
      }
    }
    // Images differ in size: throughput is all bytes over all time, not a median of per-image rates.
    for (const target of targets) {
      const sum = totals.get(target.name)!;
      results.add(section, 'push: MiB/s over all images', 'MiB/s', 'higher', target.name, mibPerSecond(sum.bytes, sum.pushS));
      results.add(section, 'pull: MiB/s over all images', 'MiB/s', 'higher', target.name, mibPerSecond(sum.bytes, sum.pullS));
    }
  } finally {
    for (const agent of agents.values()) agent.destroy();
  }
}
