import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineProject } from 'vitest/config';

// The project root is this folder whether the file runs on its own
// (`vitest run --config edge/vitest.config.ts`) or as one of the root config's `test.projects`
// (Vitest then forces the root to the config's folder), so relative paths below are from edge/.
const edgeDir = fileURLToPath(new URL('.', import.meta.url));

/** The edge project: tests run inside workerd against the real Worker built from wrangler.toml. */
export default defineProject({
  root: edgeDir,
  // Keep Vite's cache with the others instead of growing an edge/node_modules.
  cacheDir: fileURLToPath(new URL('../node_modules/.vite/edge', import.meta.url)),
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: fileURLToPath(new URL('../wrangler.toml', import.meta.url)) },
      // The recording server started by globalSetup stands in for the origin.
      // The assertion secret is generated per run by the globalSetup, which checks what it signs.
      miniflare: {
        bindings: {
          ORIGIN_URL: inject('originUrl'),
          ENVIRONMENT: 'test',
          EDGE_ASSERTION_SECRET: inject('edgeAssertionSecret'),
        },
      },
    })),
  ],
  test: {
    name: 'edge',
    include: ['**/*.test.ts'],
    globalSetup: ['test/recording-origin.ts', 'test/quota-store.ts'],
  },
});
