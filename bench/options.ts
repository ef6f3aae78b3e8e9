/** Command-line options of `npm run bench -- [options]`, with the defaults of a full and a quick run. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  /** Rounds of each large-blob and small-request measurement (targets alternate who goes first). */
  rounds: number;
  blobMiB: number;
  chunkMiB: number;
  /** Size of the blob pushed and pulled while resident memory is watched. */
  memoryMiB: number;
  concurrency: number;
  /** Single-stream pull sizes (the ceiling takes part). */
  pullMiB: number[];
  pullRounds: number;
  /** One blob pulled by `concurrentPulls` clients at once. */
  concurrentMiB: number;
  concurrentPulls: number;
  /** Seconds of load per small-request run. */
  seconds: number;
  images: number;
  layers: number;
  layerMinMiB: number;
  layerMaxMiB: number;
  skopeoRounds: number;
  berthOnly: boolean;
  /** Another Berth build's dist/src/cli.js to bench instead of this checkout's. */
  berthCli: string | undefined;
  scenarios: Set<ScenarioName>;
  /** JSON results file; undefined: bench/results/latest.json in the project. */
  out: string | undefined;
}

export const SCENARIOS = ['memory', 'blobs', 'pull', 'concurrent', 'small', 'auth', 'image', 'skopeo'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const USAGE = `usage: npm run bench -- [options]

Benchmarks Berth against CNCF Distribution (apt's docker-registry) on this machine, with Berth
on 2 workers and a bare-Node server (the ceiling) where they apply.

  --quick              a short smoke run (small sizes, one round)
  --rounds N           rounds per measurement, targets alternating who goes first (2; quick 1)
  --blob-mib N         large blob size for push/pull throughput (512; quick 32)
  --chunk-mib N        PATCH chunk size for chunked pushes (16; quick 8)
  --memory-mib N       blob pushed and pulled while resident memory is watched (1024; quick 64)
  --pull-mib LIST      single-stream pull sizes, comma-separated (256,1024; quick 32)
  --pull-rounds N      rounds of each single-stream pull (3; quick 1)
  --concurrent-mib N   blob pulled by many clients at once (64; quick 8)
  --concurrent-pulls N clients pulling it at once (32)
  --concurrency N      keep-alive connections for small requests (32)
  --seconds S          seconds of load per small-request run (4; quick 1)
  --images N           images pushed and pulled in the typical-image scenario (5; quick 1)
  --layers N           layers per image (5); sizes from --layer-min-mib (1) to --layer-max-mib (20)
  --skopeo-rounds N    skopeo copies per target, if skopeo and umoci are installed (2; quick 1; 0 skips)
  --only LIST          comma-separated scenarios: ${SCENARIOS.join(',')} (all)
  --berth-only         do not start Distribution
  --berth-cli FILE     bench another Berth build (its dist/src/cli.js), e.g. an older commit
  --out FILE           JSON results (bench/results/latest.json)
  --help               this text
`;

function positive(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      'blob-mib': { type: 'string' },
      'chunk-mib': { type: 'string' },
      'memory-mib': { type: 'string' },
      concurrency: { type: 'string' },
      'pull-mib': { type: 'string' },
      'pull-rounds': { type: 'string' },
      'concurrent-mib': { type: 'string' },
      'concurrent-pulls': { type: 'string' },
      seconds: { type: 'string' },
      images: { type: 'string' },
      layers: { type: 'string' },
      'layer-min-mib': { type: 'string' },
      'layer-max-mib': { type: 'string' },
      'skopeo-rounds': { type: 'string' },
      only: { type: 'string' },
      'berth-only': { type: 'boolean' },
      'berth-cli': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const scenarios = new Set<ScenarioName>();
  for (const name of (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim())) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario ${JSON.stringify(name)} (known: ${SCENARIOS.join(', ')})`);
    scenarios.add(name as ScenarioName);
  }
  const options: BenchOptions = {
    quick,
    rounds: Math.round(positive('rounds', values.rounds, quick ? 1 : 2)),
    blobMiB: positive('blob-mib', values['blob-mib'], quick ? 32 : 512),
    chunkMiB: positive('chunk-mib', values['chunk-mib'], quick ? 8 : 16),
    memoryMiB: positive('memory-mib', values['memory-mib'], quick ? 64 : 1024),
    concurrency: Math.round(positive('concurrency', values.concurrency, 32)),
    pullMiB: (values['pull-mib'] ?? (quick ? '32' : '256,1024')).split(',').map((v) => positive('pull-mib', v.trim(), 0)),
    pullRounds: Math.round(positive('pull-rounds', values['pull-rounds'], quick ? 1 : 3)),
    concurrentMiB: positive('concurrent-mib', values['concurrent-mib'], quick ? 8 : 64),
    concurrentPulls: Math.round(positive('concurrent-pulls', values['concurrent-pulls'], 32)),
    seconds: positive('seconds', values.seconds, quick ? 1 : 4),
    images: Math.round(positive('images', values.images, quick ? 1 : 5)),
    layers: Math.round(positive('layers', values.layers, 5)),
    layerMinMiB: positive('layer-min-mib', values['layer-min-mib'], 1),
    layerMaxMiB: positive('layer-max-mib', values['layer-max-mib'], 20),
    skopeoRounds: Math.round(positive('skopeo-rounds', values['skopeo-rounds'], quick ? 1 : 2, true)),
    berthOnly: values['berth-only'] ?? false,
    berthCli: values['berth-cli'],
    scenarios,
    out: values.out,
  };
  if (options.layerMaxMiB < options.layerMinMiB) throw new Error('--layer-max-mib must be at least --layer-min-mib');
  return options;
}
