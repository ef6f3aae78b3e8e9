/**
 * The native builder's thread (started by thread.ts, one per build): opens the storage, runs the
 * NativeBuilder, and talks to the server's thread only through messages: log lines and results
 * out, rights asked and answered, changes reported and acknowledged, and a request to stop in.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../log.js';
import { Registry } from '../../registry/registry.js';
import type { ChangeObserver } from '../../registry/observer.js';
import { createStorageDriver } from '../../storage.js';
import { NativeBuilder } from './builder.js';
import type { FromWorker, ToWorker, WorkerInput } from './thread.js';

const input = workerData as WorkerInput;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);

const controller = new AbortController();
const answers = new Map<number, (allowed: boolean) => void>();
const acknowledgements = new Map<number, (error: string | undefined) => void>();
let asked = 0;

port.on('message', (message: ToWorker) => {
  if (message.type === 'abort') {
    controller.abort(new Error(message.reason));
  } else if (message.type === 'may-pull') {
    answers.get(message.id)?.(message.allowed);
    answers.delete(message.id);
  } else {
    acknowledgements.get(message.id)?.(message.error);
    acknowledgements.delete(message.id);
  }
});

/** Reports a change to the server's observer and waits until it is recorded (or fails with it). */
const observer: ChangeObserver = (change, origin) =>
  new Promise((resolve, reject) => {
    const id = ++asked;
    acknowledgements.set(id, (error) => (error === undefined ? resolve() : reject(new Error(error))));
    post({ type: 'change', id, change, origin });
  });

function mayPull(repository: string): Promise<boolean> {
  return new Promise((resolve) => {
    const id = ++asked;
    answers.set(id, resolve);
    post({ type: 'may-pull', id, repository });
  });
}

try {
  const registry = new Registry(await createStorageDriver(input.storage), input.limits, createLogger(input.logLevel), input.observed ? { changes: observer } : {});
  const builder = new NativeBuilder({ registry, tempDir: input.tempDir });
  const result = await builder.build({ ...input.request, log: (line) => post({ type: 'log', line }), signal: controller.signal, mayPull });
  post({ type: 'done', digest: result.digest });
} catch (err) {
  const error = err instanceof Error ? err : new Error(String(err));
  post({ type: 'failed', error: { name: error.name, message: error.message, stack: error.stack } });
}
