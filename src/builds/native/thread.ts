/**
 * The native builder on a worker thread of its own, one per build, so that a build (parsing,
 * pattern matching, tar and gzip, all in JavaScript) never holds the event loop that serves the
 * registry, and so that its timeout holds even when the build stops listening: on cancel or
 * timeout the thread is asked to stop, and terminated from outside after a grace period. The
 * thread's heap is bounded too.
 *
 * The thread opens its own storage driver on the same storage (filesystem or S3: replicas share
 * them the same way) and runs the ordinary NativeBuilder (worker.ts). It knows nothing of rights:
 * each image it resolves is asked about here, through `request.mayPull`. Log lines come back as
 * messages, and so does every change it makes in the registry (its pushes), which this thread
 * hands to the server's observer (src/events) before the build goes on.
 */
import { Worker } from 'node:worker_threads';
import type { Config, LogLevel } from '../../config.js';
import type { ChangeObserver, ChangeOrigin, RegistryChange } from '../../registry/observer.js';
import type { RegistryLimits } from '../../registry/registry.js';
import { compiledModule } from '../../util/index.js';
import type { Builder, BuildRequest, BuildResult } from '../builder.js';

export interface ThreadedBuilderOptions {
  /** The storage the thread opens (the server's own; never `memory`, which a thread cannot share). */
  storage: Config['storage'];
  limits: RegistryLimits;
  /** Where the build's temporary files go. */
  tempDir?: string;
  logLevel: LogLevel;
  /** Between asking a build to stop and terminating its thread. */
  killAfterMs?: number;
  /** The thread's heap limit, MiB. */
  maxHeapMb?: number;
  /** The thread's module (tests give another). */
  workerUrl?: URL;
  /** Told of the thread's pushes, as the server's own registry tells its observer. */
  observer?: ChangeObserver;
}

/** What the thread starts with. */
export interface WorkerInput {
  storage: Config['storage'];
  limits: RegistryLimits;
  tempDir?: string;
  logLevel: LogLevel;
  request: Pick<BuildRequest, 'contextDir' | 'dockerfile' | 'buildArgs' | 'repository' | 'tags'>;
  /** Whether the server observes changes: then the thread reports each one and waits. */
  observed: boolean;
}

export type ToWorker =
  | { type: 'abort'; reason: string }
  | { type: 'may-pull'; id: number; allowed: boolean }
  | { type: 'observed'; id: number; error?: string };

export type FromWorker =
  | { type: 'log'; line: string }
  | { type: 'may-pull'; id: number; repository: string }
  | { type: 'change'; id: number; change: RegistryChange; origin: ChangeOrigin | undefined }
  | { type: 'done'; digest: string }
  | { type: 'failed'; error: { name: string; message: string; stack?: string } };

const KILL_AFTER_MS = 5000;
const MAX_HEAP_MB = 512;

/** An error as the thread reported it, with its name (the queue tells build problems by name). */
function revive(error: { name: string; message: string; stack?: string }): Error {
  const err = new Error(error.message);
  err.name = error.name;
  if (error.stack) err.stack = error.stack;
  return err;
}

export class ThreadedNativeBuilder implements Builder {
  readonly name = 'native' as const;
  private readonly workerUrl: URL;

  constructor(private readonly options: ThreadedBuilderOptions) {
    this.workerUrl = options.workerUrl ?? compiledModule(import.meta.url, './worker.js');
  }

  build(request: BuildRequest): Promise<BuildResult> {
    request.signal.throwIfAborted();
    const { storage, limits, tempDir, logLevel } = this.options;
    const { contextDir, dockerfile, buildArgs, repository, tags } = request;
    const { observer } = this.options;
    const input: WorkerInput = { storage, limits, tempDir, logLevel, request: { contextDir, dockerfile, buildArgs, repository, tags }, observed: observer !== undefined };
    return new Promise<BuildResult>((resolve, reject) => {
      const worker = new Worker(this.workerUrl, { workerData: input, resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb ?? MAX_HEAP_MB } });
      let outcome: { digest: string } | Error | undefined;
      let killer: NodeJS.Timeout | undefined;
      const send = (message: ToWorker): void => worker.postMessage(message);
      const onAbort = (): void => {
        send({ type: 'abort', reason: (request.signal.reason as Error | undefined)?.message ?? 'aborted' });
        killer = setTimeout(() => void worker.terminate(), this.options.killAfterMs ?? KILL_AFTER_MS);
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'log':
            request.log(message.line);
            return;
          case 'may-pull':
            request.mayPull(message.repository).then(
              (allowed) => send({ type: 'may-pull', id: message.id, allowed }),
              () => send({ type: 'may-pull', id: message.id, allowed: false }),
            );
            return;
          case 'change':
            Promise.resolve(observer?.(message.change, message.origin)).then(
              () => send({ type: 'observed', id: message.id }),
              (err: unknown) => send({ type: 'observed', id: message.id, error: (err as Error).message ?? String(err) }),
            );
            return;
          case 'done':
            outcome = { digest: message.digest };
            void worker.terminate();
            return;
          case 'failed':
            outcome = revive(message.error);
            void worker.terminate();
            return;
        }
      });
      worker.on('error', (err) => {
        outcome ??= err;
      });
      worker.once('exit', (code) => {
        request.signal.removeEventListener('abort', onAbort);
        clearTimeout(killer);
        if (outcome !== undefined && !(outcome instanceof Error)) resolve(outcome);
        else if (request.signal.aborted) reject(request.signal.reason);
        else reject(outcome ?? new Error(`the native builder's thread stopped (exit code ${code})`));
      });
    });
  }
}
