import { defineConfig } from 'drizzle-kit';

// Migrations are generated from the schema (`npx drizzle-kit generate`) and applied by
// `npm run migrate` or by the origin on start; no database connection is needed to generate.
export default defineConfig({
  dialect: 'postgresql',
  schema: './origin/db/schema/index.ts',
  out: './migrations',
});
