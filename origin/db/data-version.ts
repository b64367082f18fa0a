import { sql } from 'drizzle-orm';
import type { Database } from './database.js';

export type DataVersion = { version: number; changedAt: Date };

/**
 * Marks the served data as changed. Call it inside the transaction that changes listings or
 * areas, so the new version becomes visible exactly when the new rows do.
 */
export async function bumpDataVersion(db: Database, reason: string): Promise<void> {
  await db.rows(sql`
    UPDATE data_version SET version = version + 1, changed_at = now(), reason = ${reason.slice(0, 200)}
    WHERE singleton`);
}

/** The current data version (migration 0004 guarantees the row exists). */
export async function readDataVersion(db: Database): Promise<DataVersion> {
  const [row] = await db.rows<{ version: string | number; changed_at: string | Date }>(
    sql`SELECT version, changed_at FROM data_version WHERE singleton`,
  );
  if (!row) throw new Error('data_version has no row: run the migrations');
  return { version: Number(row.version), changedAt: new Date(row.changed_at) };
}
