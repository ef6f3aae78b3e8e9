/**
 * bcrypt comparisons on worker threads, so that password checks never hold the event loop (one
 * costs some 100 ms of CPU; on the main thread, a few bad logins a second would stall every pull).
 *
 * The work is bounded twice: checks running or waiting for a thread, all clients together
 * (`maxPending`), and per client address (`maxPendingPerClient`); a check past either bound is
 * refused at once with PasswordChecksBusy (429 + Retry-After), before any work. Threads start
 * when first needed and stop after a quiet while; they never keep the process alive.
 *
 * The worker is plain JavaScript given as a string (bcryptjs loaded by its resolved path), so it
 * runs the same from the compiled dist/ and from the TypeScript sources under the test runner.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PasswordChecksConfig } from './config.js';

export class PasswordChecksBusy extends Error {
  readonly retryAfterMs = 1000;
  constructor(readonly scope: 'client' | 'server') {
    super(scope === 'client' ? 'too many sign-ins in progress from this address' : 'too many sign-ins in progress');
    this.name = 'PasswordChecksBusy';
  }
}

const BCRYPT_PATH = createRequire(import.meta.url).resolve('bcryptjs');

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(BCRYPT_PATH)});
parentPort.on('message', ({ password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage(ok);
});
`;

/** A thread with nothing to do for this long is stopped (started again when needed). */
const IDLE_MS = 30_000;

interface Job {
  password: string;
  hash: string;
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

export class PasswordChecker {
  private readonly threads: number;
  private readonly queue: Job[] = [];
  private readonly idle = new Map<Worker, NodeJS.Timeout>();
  private readonly busy = new Map<Worker, Job>();
  private readonly perClient = new Map<string, number>();
  private pending = 0;

  constructor(private readonly config: PasswordChecksConfig) {
    this.threads = config.threads > 0 ? config.threads : defaultThreads();
  }

  /**
   * Whether `password` matches the bcrypt `hash`, computed on a worker thread. Throws
   * PasswordChecksBusy at once when the bounds are reached.
   */
  async compare(client: string, password: string, hash: string): Promise<boolean> {
    const fromClient = this.perClient.get(client) ?? 0;
    if (fromClient >= this.config.maxPendingPerClient) throw new PasswordChecksBusy('client');
    if (this.pending >= this.config.maxPending) throw new PasswordChecksBusy('server');
    this.pending += 1;
    this.perClient.set(client, fromClient + 1);
    try {
      return await new Promise<boolean>((resolve, reject) => {
        this.queue.push({ password, hash, resolve, reject });
        this.pump();
      });
    } finally {
      this.pending -= 1;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    }
  }

  /** Stops every thread (jobs still waiting fail). */
  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.reject(new Error('password checks stopped'));
    await Promise.all([...this.idle.keys(), ...this.busy.keys()].map((worker) => worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.keys().next().value as Worker | undefined;
      if (worker) {
        clearTimeout(this.idle.get(worker));
        this.idle.delete(worker);
      } else if (this.busy.size < this.threads) {
        worker = this.spawn();
      } else {
        return;
      }
      const job = this.queue.shift()!;
      this.busy.set(worker, job);
      worker.postMessage({ password: job.password, hash: job.hash });
    }
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    worker.unref();
    worker.on('message', (ok: boolean) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      const timer = setTimeout(() => {
        this.idle.delete(worker);
        void worker.terminate();
      }, IDLE_MS);
      timer.unref();
      this.idle.set(worker, timer);
      job?.resolve(ok === true);
      this.pump();
    });
    const gone = (err: Error): void => {
      clearTimeout(this.idle.get(worker));
      this.idle.delete(worker);
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      job?.reject(err);
      this.pump();
    };
    worker.on('error', gone);
    worker.on('exit', () => gone(new Error('a password check thread stopped')));
    return worker;
  }
}
