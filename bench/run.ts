/**
 * `npm run bench`: starts Berth and CNCF Distribution side by side on this machine, runs the
 * scenarios against both (taking turns), prints a table of Berth / Distribution ratios and writes
 * every number to bench/results/latest.json. Measurement only: nothing here passes or fails on time.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { type LogSummary, summariseLog, type Timeline } from './logs.js';
import { type BenchOptions, parseOptions, type ScenarioName, USAGE } from './options.js';
import { commandExists, installCleanup, readMemory, trackPath } from './proc.js';
import { renderTable, writeJson } from './report.js';
import { Results } from './results.js';
import { runLargeBlobs } from './scenarios/blobs.js';
import type { BenchContext } from './scenarios/context.js';
import { runImages } from './scenarios/image.js';
import { runAuth } from './scenarios/auth.js';
import { runMemory } from './scenarios/memory.js';
import { runConcurrentPulls, runPulls } from './scenarios/pull.js';
import { runSkopeo } from './scenarios/skopeo.js';
import { runSmallRequests } from './scenarios/small.js';
import { BERTH_CLI, PROJECT_ROOT, startBerth, startCeiling, startDistribution, stopAll, type Target } from './targets.js';

/** Memory first, while the processes are fresh; then throughput, small requests, clients. */
const PLAN: { name: ScenarioName; title: string; run(ctx: BenchContext): Promise<void> }[] = [
  { name: 'memory', title: 'resident memory during a big blob push and pull', run: runMemory },
  { name: 'blobs', title: 'large blob push and pull throughput', run: runLargeBlobs },
  { name: 'pull', title: 'single-stream blob pulls', run: runPulls },
  { name: 'concurrent', title: 'concurrent pulls of one blob', run: runConcurrentPulls },
  { name: 'small', title: 'small requests under concurrency', run: runSmallRequests },
  { name: 'auth', title: 'the cost of token auth', run: runAuth },
  { name: 'image', title: 'typical image push and pull', run: runImages },
  { name: 'skopeo', title: 'skopeo copy', run: runSkopeo },
];

const started = Date.now();
/** The machine's 1-minute load average when the run began (others share the CPUs). */
const loadAtStart = loadavg()[0]!;
function progress(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
}

function version(command: string, args: string[]): string | undefined {
  if (!commandExists(command)) return undefined;
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim().split('\n')[0] : undefined;
}

function machineInfo(): Record<string, unknown> {
  const cpuList = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${release()} ${process.arch}`,
    cpuCount: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    tmpdir: tmpdir(),
    skopeo: version('skopeo', ['--version']),
    umoci: version('umoci', ['--version']),
  };
}

async function startTargets(root: string, options: BenchOptions, notes: string[]): Promise<Target[]> {
  const cli = options.berthCli ? resolve(options.berthCli) : undefined;
  const berth = await startBerth(root, { cli });
  const targets = [berth];
  if (options.berthOnly) {
    notes.push('Distribution not started (--berth-only): Berth numbers only.');
  } else if (!commandExists('docker-registry')) {
    const hint = 'CNCF Distribution (docker-registry) is not installed, so Berth is benchmarked alone. Install it with: apt-get install -y docker-registry';
    process.stderr.write(`bench: ${hint}\n`);
    notes.push(hint);
  } else {
    targets.push(await startDistribution(root));
  }
  // A second Berth deployment on the same storage with 2 workers, and the bare-Node ceiling.
  try {
    targets.push(await startBerth(root, { cli, name: 'berth2', role: 'workers', workers: 2, dataDir: join(berth.dir, 'data') }));
  } catch (err) {
    notes.push(`Berth with 2 workers did not start (a build without workers?): ${(err as Error).message.split('\n')[0]}`);
  }
  targets.push(await startCeiling(root, join(berth.dir, 'data')));
  for (const t of targets) progress(`${t.label} (${t.version}) at ${t.url}, pid ${t.pid}, ${t.idleMiB.toFixed(1)} MiB resident`);
  return targets;
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const options = parsed;
  const cli = options.berthCli ? resolve(options.berthCli) : BERTH_CLI;
  if (!existsSync(cli)) throw new Error(`${cli} not found: build first (npm run bench does)`);
  installCleanup();
  const root = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  trackPath(root);
  const notes: string[] = [];
  const results = new Results();
  let targets: Target[] = [];
  let failed = false;
  const logs: Record<string, LogSummary> = {};
  const finalMiB: Record<string, number> = {};
  const timeline: Timeline = [];
  try {
    targets = await startTargets(root, options, notes);
    const ctx: BenchContext = {
      targets,
      options,
      results,
      scratch: join(root, 'scratch'),
      runId: randomBytes(6).toString('hex'),
      progress,
      note: (message) => {
        notes.push(message);
        progress(`note: ${message}`);
      },
    };
    for (const step of PLAN) {
      if (!options.scenarios.has(step.name)) continue;
      const dead = targets.find((t) => t.exited() !== undefined);
      if (dead) {
        failed = true;
        ctx.note(`${dead.label} ${dead.exited()}\nThe remaining scenarios were not run.`);
        break;
      }
      progress(`--- ${step.title}`);
      timeline.push({ scenario: step.name, startMs: Date.now() });
      try {
        await step.run(ctx);
      } catch (err) {
        // One scenario failing (e.g. a registry error) is itself a finding; the others still run.
        failed = true;
        ctx.note(`scenario "${step.name}" failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
    for (const t of targets) {
      finalMiB[t.name] = (readMemory(t.pid)?.rss ?? NaN) / 1024;
      logs[t.name] = await summariseLog(t, timeline);
    }
  } finally {
    progress('stopping targets, removing temp data');
    await stopAll(targets, root);
  }

  const withDistribution = targets.some((t) => t.name === 'distribution');
  const summaries = results.summaries();
  const rounds = `medians unless a row says otherwise: ${options.rounds} round(s) per blob and small-request measurement, ${options.pullRounds} per single-stream pull, ${options.images} image(s), ${options.skopeoRounds} skopeo copy round(s)`;
  const title = withDistribution
    ? `Berth vs CNCF Distribution on this machine (${rounds}). Ratios: Berth / Distribution, Berth with 2 workers / Distribution, Berth / the bare-Node ceiling; "better" says which direction is better for Berth.`
    : `Berth alone (${rounds}).`;
  const present = targets.map((t) => t.name);
  const load = `load average (1 min): ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end, on ${cpus().length} CPUs`;
  process.stdout.write(`\n${title}\n${load}\n${targets.map((t) => `  ${t.label}: ${t.version}`).join('\n')}\n\n${renderTable(summaries, present)}\n`);
  for (const t of targets) {
    const log = logs[t.name];
    if (log) process.stdout.write(`\n${t.label} log: ${log.warnings} warning(s), ${log.errors} error(s); resident at the end: ${finalMiB[t.name]?.toFixed(1)} MiB`);
    for (const m of log?.messages ?? []) process.stdout.write(`\n    ${m.level} x${m.count} (during ${m.during.join(', ')}): ${m.message}`);
  }
  if (notes.length > 0) process.stdout.write(`\n\nNotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);

  const out = options.out ? resolve(options.out) : join(PROJECT_ROOT, 'bench/results/latest.json');
  await writeJson(out, {
    generatedAt: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    options: { ...options, scenarios: [...options.scenarios] },
    machine: { ...machineInfo(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg()[0] },
    targets: targets.map((t) => ({ name: t.name, version: t.version, idleMiB: t.idleMiB, finalMiB: finalMiB[t.name] })),
    metrics: summaries,
    logs,
    notes,
  });
  process.stdout.write(`\n\nAll numbers: ${out} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
