import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../origin/db/database.js';
import { migrate } from '../../origin/db/migrate.js';
import { adminUrl, databaseUrl, runPrefix } from './urls.js';

/**
 * Once per test run: build a migrated template database. Every test file then clones it
 * (CREATE DATABASE ... TEMPLATE), which takes milliseconds instead of re-running migrations.
 */
export default async function setup(project: TestProject) {
  const prefix = runPrefix(randomBytes(4).toString('hex'));
  const TEMPLATE_DATABASE = `${prefix}template`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } catch (error) {
    throw new Error(
      `cannot reach PostgreSQL at ${adminUrl().replace(/:[^:@/]*@/, ':***@')} (set TEST_DATABASE_ADMIN_URL): ${(error as Error).message}`,
    );
  } finally {
    await admin.end();
  }
  const db = await openDatabase({ url: databaseUrl(TEMPLATE_DATABASE), dataDir: '' });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('databasePrefix', prefix);
  return async () => {
    const cleanup = postgres(adminUrl(), { max: 1, onnotice: () => {} });
    const leftovers = await cleanup<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE starts_with(datname, ${prefix})`;
    for (const { datname } of leftovers)
      await cleanup.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await cleanup.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
    databasePrefix: string;
  }
}
