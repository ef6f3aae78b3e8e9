/**
 * Small requests under concurrency: N keep-alive connections, each sending the next request as
 * soon as the last answered, for a fixed time: manifest GET by tag, blob HEAD, tags/list.
 * Requests per second and p50/p99 latency; a short warm-up on the same connections first.
 */
import { digestOf } from '../data.js';
import { type RequestOptions, keepAliveAgent, request } from '../http.js';
import { imageConfig, imageManifest, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, pushSmallBlob, putManifest } from '../oci.js';
import { percentile, turns } from '../results.js';
import type { Target } from '../targets.js';
import type { BenchContext } from './context.js';

const REPO = 'bench/small';
const TAGS = 50;
const WARMUP_SECONDS = 0.5;

interface Operation {
  name: string;
  path: string;
  options: RequestOptions;
}

interface LoadResult {
  completed: number;
  errors: number;
  firstError?: string;
  elapsed: number;
  latenciesMs: Float64Array;
}

/** An image with one small layer, tagged `latest` and v1..v50 (so tags/list has something to list). */
async function seed(target: Target): Promise<string> {
  const layer = Buffer.alloc(4096, 7);
  const layerDigest = await pushSmallBlob(target.url, REPO, layer);
  const config = imageConfig('small', [layerDigest]);
  const configDigest = await pushSmallBlob(target.url, REPO, config);
  const manifest = imageManifest({ mediaType: OCI_CONFIG, digest: configDigest, size: config.length }, [
    { mediaType: OCI_LAYER, digest: layerDigest, size: layer.length },
  ]);
  await putManifest(target.url, REPO, 'latest', manifest);
  for (let i = 1; i <= TAGS; i++) await putManifest(target.url, REPO, `v${i}`, manifest);
  return layerDigest;
}

async function load(target: Target, op: Operation, concurrency: number, durationS: number): Promise<LoadResult> {
  const agent = keepAliveAgent(concurrency);
  const url = `${target.url}${op.path}`;
  const run = async (forS: number, record: boolean): Promise<LoadResult> => {
    const latencies: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(Math.round(forS * 1e9));
    const worker = async (): Promise<void> => {
      while (process.hrtime.bigint() < deadline) {
        const t0 = process.hrtime.bigint();
        try {
          const res = await request(url, { ...op.options, agent });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          if (record) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    return { completed: latencies.length, errors, firstError, elapsed, latenciesMs: Float64Array.from(latencies).sort() };
  };
  try {
    await run(WARMUP_SECONDS, false);
    return await run(durationS, true);
  } finally {
    agent.destroy();
  }
}

export async function runSmallRequests(ctx: BenchContext): Promise<void> {
  const { options, results, targets } = ctx;
  const layerDigest = new Map<string, string>();
  for (const target of targets) layerDigest.set(target.name, await seed(target));
  // The layer is the same bytes on every target, so the same digest.
  const digest = layerDigest.get(targets[0]!.name) ?? digestOf(Buffer.alloc(4096, 7));
  const operations: Operation[] = [
    { name: 'manifest GET by tag', path: `/v2/${REPO}/manifests/latest`, options: { headers: { Accept: OCI_MANIFEST } } },
    { name: 'blob HEAD', path: `/v2/${REPO}/blobs/${digest}`, options: { method: 'HEAD' } },
    { name: `tags/list (${TAGS + 1} tags)`, path: `/v2/${REPO}/tags/list`, options: {} },
  ];
  const section = `Small requests, ${options.concurrency} keep-alive connections`;
  for (let round = 0; round < options.rounds; round++) {
    for (const [index, op] of operations.entries()) {
      for (const target of turns(targets, round + index)) {
        ctx.progress(`small requests: round ${round + 1}/${options.rounds}: ${target.label}: ${op.name}, ${options.seconds} s`);
        const result = await load(target, op, options.concurrency, options.seconds);
        if (result.errors > 0) ctx.note(`${target.label}: ${op.name}: ${result.errors} failed requests (first: ${result.firstError})`);
        results.add(section, `${op.name}: throughput`, 'req/s', 'higher', target.name, result.completed / result.elapsed);
        results.add(section, `${op.name}: p50 latency`, 'ms', 'lower', target.name, percentile(result.latenciesMs, 50));
        results.add(section, `${op.name}: p99 latency`, 'ms', 'lower', target.name, percentile(result.latenciesMs, 99));
      }
    }
  }
}
