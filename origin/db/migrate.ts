import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import type { Database } from './database.js';

export const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * Apply pending migrations. drizzle's migrator is the same for both drivers (it runs through the
 * dialect), so one call serves both. On a server several processes may start at once, so the
 * migration runs under an advisory lock; PGlite has a single connection and needs none.
 */
export async function migrate(db: Database): Promise<void> {
  await db.withLock('migrate', () =>
    // biome-ignore lint/suspicious/noExplicitAny: drizzle's migrator takes its driver's concrete type; both share the dialect path.
    drizzleMigrate(db.orm as any, { migrationsFolder }),
  );
}

export type MigrationStatus = { applied: number; available: number; current: boolean };

/** How many migrations are applied vs shipped; used by readiness checks. */
export async function migrationStatus(db: Database): Promise<MigrationStatus> {
  const { readMigrationFiles } = await import('drizzle-orm/migrator');
  const available = readMigrationFiles({ migrationsFolder }).length;
  const rows = await db
    .rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)
    .catch(() => [{ n: 0 }]);
  const applied = rows[0]?.n ?? 0;
  return { applied, available, current: applied >= available };
}
