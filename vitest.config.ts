import { defineConfig } from 'vitest/config';

/**
 * Two projects, each in its own runtime: `origin` in Node against a real PostgreSQL with PostGIS
 * (and PGlite for the embedded default), `edge` inside workerd (edge/vitest.config.ts).
 */
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // The edge's access log writes a JSON line per request; the tests that care spy on it.
    onConsoleLog: (log) => !log.includes('"msg":"request"'),
    projects: [
      {
        test: {
          name: 'origin',
          include: ['origin/**/*.test.ts', 'test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          // Each file gets its own database cloned from a migrated template, so files run in
          // parallel without seeing each other's rows.
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      'edge/vitest.config.ts',
    ],
  },
});
