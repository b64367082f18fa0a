import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../origin/db/database.js';
import { adminUrl, databaseUrl } from './urls.js';

export type TestDatabase = { db: Database; url: string; name: string; drop: () => Promise<void> };

/**
 * A fresh, migrated PostGIS database of this test file's own (a clone of the run's template).
 * Real PostgreSQL, never a mock: the point is to exercise the SQL.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${inject('databasePrefix')}${randomBytes(5).toString('hex')}`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const db = await openDatabase({ url, dataDir: '', poolMax: 5 });
  return {
    db,
    url,
    name,
    drop: async () => {
      await db.close();
      const cleanup = postgres(adminUrl(), { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
