/**
 * Small requests under concurrency: N keep-alive connections (bench/load.ts, a wrk-like client on
 * raw sockets), each sending the next request as soon as the last answered, for a fixed time:
 * manifest GET by tag, blob HEAD, tags/list. Requests per second and p50/p99 latency; a short
 * warm-up on the same connections first. Berth with 2 workers and the bare-Node ceiling read
 * what was pushed to Berth.
 */
import { digestOf } from '../data.js';
import { runLoad } from '../load.js';
import { imageConfig, imageManifest, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, pushSmallBlob, putManifest } from '../oci.js';
import { percentile, turns } from '../results.js';
import type { Target } from '../targets.js';
import type { BenchContext } from './context.js';

const REPO = 'bench/small';
const TAGS = 50;
const WARMUP_SECONDS = 0.5;

interface Operation {
  name: string;
  method: 'GET' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
}

/** An image with one small layer, tagged `latest` and v1..v50 (so tags/list has something to list). */
export async function seedSmall(target: Target): Promise<string> {
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

/** Loads `target` with `op` and records throughput and latency under `section`. */
async function measureLoad(ctx: BenchContext, section: string, target: Target, op: Operation): Promise<void> {
  const { options, results } = ctx;
  const result = await runLoad({
    url: target.url,
    method: op.method,
    path: op.path,
    headers: op.headers,
    connections: options.concurrency,
    seconds: options.seconds,
    warmupSeconds: WARMUP_SECONDS,
  });
  if (result.errors > 0) ctx.note(`${target.label}: ${op.name}: ${result.errors} failed requests (first: ${result.firstError})`);
  results.add(section, `${op.name}: throughput`, 'req/s', 'higher', target.name, result.completed / result.elapsed);
  results.add(section, `${op.name}: p50 latency`, 'ms', 'lower', target.name, percentile(result.latenciesMs, 50));
  results.add(section, `${op.name}: p99 latency`, 'ms', 'lower', target.name, percentile(result.latenciesMs, 99));
}

export async function runSmallRequests(ctx: BenchContext): Promise<void> {
  const { options, targets } = ctx;
  let digest = digestOf(Buffer.alloc(4096, 7));
  for (const target of targets.filter((t) => t.role === 'registry')) digest = await seedSmall(target);
  const operations: Operation[] = [
    { name: 'manifest GET by tag', method: 'GET', path: `/v2/${REPO}/manifests/latest`, headers: { Accept: OCI_MANIFEST } },
    { name: 'blob HEAD', method: 'HEAD', path: `/v2/${REPO}/blobs/${digest}` },
    { name: `tags/list (${TAGS + 1} tags)`, method: 'GET', path: `/v2/${REPO}/tags/list` },
  ];
  const section = `Small requests, ${options.concurrency} keep-alive connections`;
  for (let round = 0; round < options.rounds; round++) {
    for (const [index, op] of operations.entries()) {
      for (const target of turns(targets, round + index)) {
        ctx.progress(`small requests: round ${round + 1}/${options.rounds}: ${target.label}: ${op.name}, ${options.seconds} s`);
        await measureLoad(ctx, section, target, op);
      }
    }
  }
}
