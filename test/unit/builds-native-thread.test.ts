/**
 * The native builder's thread is stopped from outside (issue 15, item 6): a build that stops
 * listening (here a thread that spins forever) still ends at its timeout or cancel, the thread is
 * terminated, and the server's thread is never held meanwhile.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ThreadedNativeBuilder } from '../../src/builds/native/thread.js';
import { loadConfig } from '../../src/config.js';
import { longestBlock } from '../helpers/event-loop.js';
import { buildRequest } from '../helpers/native-build.js';

const SPIN = pathToFileURL(join(import.meta.dirname, '../fixtures/builds/spin-worker.mjs'));

describe('the native builder thread', () => {
  it('terminates a build that does not stop when asked, at its timeout', async () => {
    const config = loadConfig({ env: {} });
    const builder = new ThreadedNativeBuilder({ storage: config.storage, limits: config.limits, logLevel: 'silent', killAfterMs: 300, workerUrl: SPIN });
    const controller = new AbortController();
    let running: () => void = () => {};
    const started = new Promise<void>((resolve) => (running = resolve));
    const request = buildRequest('/nonexistent', { signal: controller.signal, log: (line) => line === 'spinning' && running() });
    const { result, maxBlockMs } = await longestBlock(async () => {
      const building = builder.build(request).catch((err: unknown) => err);
      await started; // it runs, and will not stop by itself
      controller.abort(new Error('timed out after 1 s (builds.timeoutSeconds)'));
      return building;
    });
    expect((result as Error).message).toBe('timed out after 1 s (builds.timeoutSeconds)');
    expect(maxBlockMs).toBeLessThan(1000);
  });
});
