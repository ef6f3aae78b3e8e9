/**
 * Every core: `workers: N | auto` (or `berth serve --workers`) runs N server processes on one
 * listen address with node:cluster.
 *
 *   primary (no app, no storage: it never loads server.ts) --fork--> worker 0 .. N-1 (this module
 *   as their entry point: startServer each)
 *     - hands each worker the config it loaded (over IPC), so every worker, a replacement too,
 *       serves exactly the primary's config, and workers never parse YAML;
 *     - owns the listening socket: workers' `listen` goes through it (port 0 included: the port
 *       the primary's socket got is the one every worker shares) and it deals connections out
 *       round-robin;
 *     - logs one `listening` line once every worker listens;
 *     - relays a scrape's request for every worker's metrics (src/metrics/cluster-primary.ts), so
 *       /metrics on any worker, or on the metrics listener, reports the whole server;
 *     - replaces a worker that dies (after a pause that grows while they keep dying early); if
 *       a first worker dies before it ever listened, the whole server stops (exit 1): the config
 *       or the storage is wrong, and restarting would only loop;
 *     - on SIGTERM/SIGINT stops the workers gracefully and exits 0 once they have.
 *
 * Workers share nothing but storage, exactly like replicas: tags and links are read from storage
 * on every request and the in-process caches hold only immutable things (manifests by digest,
 * verified tokens), so what one worker writes the next request on another sees. Once-per-replica
 * background work (the build queue and its retention sweep) runs in worker 0 only; builds queued
 * through another worker are picked up at the queue's next poll (`builds.pollSeconds`), as across
 * replicas. Per-process state that replicas do not share either: the failed-login backoff.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { stopOnSignals } from './lifecycle.js';
import { announceListening } from './listening.js';
import { createLogger } from './log.js';
import { MetricsGatherer } from './metrics/cluster-primary.js';

/** What the primary tells a new worker. */
interface StartMessage {
  berth: 'start';
  config: Config;
  slot: number;
}

/** Pause before replacing a worker that died within this long of starting grows, up to MAX_PAUSE_MS. */
const EARLY_DEATH_MS = 10_000;
const MAX_PAUSE_MS = 10_000;
/** How long the primary waits for workers to stop before it kills them. */
const STOP_TIMEOUT_MS = 30_000;

/** In a worker: waits for the primary's config, serves, and reports problems by exiting. */
async function runWorker(): Promise<void> {
  const start = await new Promise<StartMessage>((resolve) => {
    const onMessage = (message: unknown): void => {
      if ((message as StartMessage | undefined)?.berth !== 'start') return;
      process.off('message', onMessage);
      resolve(message as StartMessage);
    };
    process.on('message', onMessage);
    process.send!({ berth: 'ready' });
  });
  const { config, slot } = start;
  const log = createLogger(config.log.level).child({ worker: slot });
  const { startServer } = await import('./server.js');
  const running = await startServer(config, log, undefined, { announce: false, background: slot === 0, cluster: true });
  stopOnSignals(running, log);
}

/** In the primary: forks `count` workers and looks after them until a signal stops them all. */
export async function runPrimary(config: Config, log: Logger, count: number): Promise<void> {
  const slots = new Map<Worker, { slot: number; startedAt: number; listening: boolean; replacement: boolean }>();
  const pauses = new Array<number>(count).fill(0);
  let stopping = false;
  let announced = false;
  let exitCode = 0;
  // Workers run this module (the bottom of the file), not the CLI.
  cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), args: [] });
  // A scrape on any worker gathers every serving worker's metrics through here.
  const metrics = new MetricsGatherer(() => new Map([...slots].flatMap(([worker, state]) => (state.listening ? [[worker, state.slot] as const] : []))));

  const fork = (slot: number, replacement: boolean): void => {
    const worker = cluster.fork();
    slots.set(worker, { slot, startedAt: Date.now(), listening: false, replacement });
    worker.on('message', (message: { berth?: string }) => {
      if (message?.berth === 'ready') worker.send({ berth: 'start', config, slot } satisfies StartMessage);
      else metrics.handle(worker, message);
    });
  };

  /** Stops every worker with SIGTERM (whatever the primary got) and exits once they are gone. */
  const stopAll = (signal: NodeJS.Signals, code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ signal, workers: slots.size }, 'shutting down');
    for (const worker of slots.keys()) worker.process.kill('SIGTERM');
    const force = setTimeout(() => {
      log.error({ workers: slots.size }, 'workers did not stop in time: killing them');
      for (const worker of slots.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    const done = (): void => {
      if (slots.size > 0) return;
      clearTimeout(force);
      process.exit(exitCode);
    };
    cluster.on('exit', done);
    done();
  };

  cluster.on('listening', (worker, address) => {
    const state = slots.get(worker);
    if (!state) return;
    state.listening = true;
    pauses[state.slot] = 0;
    if (!announced && [...slots.values()].filter((s) => s.listening).length === count) {
      announced = true;
      const family = address.addressType === 6 ? 'IPv6' : 'IPv4';
      announceListening({ ...config, workers: count }, log, { address: address.address ?? '127.0.0.1', port: address.port, family });
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const state = slots.get(worker);
    slots.delete(worker);
    metrics.gone(worker);
    if (!state) return;
    if (stopping) {
      if (code !== 0) exitCode = 1;
      return;
    }
    if (!state.listening && !state.replacement) {
      log.error({ worker: state.slot, code, signal }, 'a worker stopped before it could serve: stopping');
      stopAll('SIGTERM', 1);
      return;
    }
    const early = Date.now() - state.startedAt < EARLY_DEATH_MS;
    pauses[state.slot] = early ? Math.min(Math.max(pauses[state.slot]! * 2, 100), MAX_PAUSE_MS) : 0;
    log.error({ worker: state.slot, pid: worker.process.pid, code, signal, restartInMs: pauses[state.slot] }, 'a worker died: starting a new one');
    setTimeout(() => {
      if (!stopping) fork(state.slot, true);
    }, pauses[state.slot]);
  });

  process.once('SIGTERM', () => stopAll('SIGTERM', 0));
  process.once('SIGINT', () => stopAll('SIGINT', 0));
  // Each worker serves TLS with its own copy of the certificate: each re-reads the files.
  process.on('SIGHUP', () => {
    for (const worker of slots.keys()) worker.process.kill('SIGHUP');
  });
  for (let slot = 0; slot < count; slot++) fork(slot, false);
}


// A worker's entry point: the primary forks this very module (see runPrimary).
if (cluster.isWorker) {
  runWorker().catch((err: unknown) => {
    process.stderr.write(`berth worker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
