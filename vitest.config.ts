import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests drive real clients that share /var/lib/containers state: files run one at a time
    // where they say so (see test/e2e); unit and API files run in parallel.
    pool: 'forks',
  },
});
