/**
 * Watching the server's event loop from a test (API tests run the server in the test's own
 * process): the longest stretch the loop was blocked while something ran. Assertions on it stay
 * generous (seconds, against attacks that block for tens of seconds or forever).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export async function longestBlock<T>(run: () => Promise<T>): Promise<{ result: T; maxBlockMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    const result = await run();
    return { result, maxBlockMs: histogram.max / 1e6 };
  } finally {
    histogram.disable();
  }
}
