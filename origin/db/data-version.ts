import { sql } from 'drizzle-orm';
import type { Database } from './database.js';

export type DataVersion = {
  version: number;
  changedAt: Date;
  /**
   * The credentials epoch (migration 0007): grows whenever an API key may do less than before
   * (revoked, owner demoted or disabled). Moved by triggers, never by code; served beside the
   * version because the edge already polls this, so it learns both in one request.
   */
  credentialsEpoch: number;
};

/**
 * Marks the served data as changed. Call it inside the transaction that changes listings or
 * areas, so the new version becomes visible exactly when the new rows do.
 */
export async function bumpDataVersion(db: Database, reason: string): Promise<void> {
  await db.rows(sql`
    UPDATE data_version SET version = version + 1, changed_at = now(), reason = ${reason.slice(0, 200)}
    WHERE singleton`);
}

/** The current data version and credentials epoch (migrations 0004 and 0007 make the rows). */
export async function readDataVersion(db: Database): Promise<DataVersion> {
  const [row] = await db.rows<{
    version: string | number;
    changed_at: string | Date;
    epoch: string | number;
  }>(sql`
    SELECT d.version, d.changed_at, c.epoch
    FROM data_version d CROSS JOIN credentials_epoch c
    WHERE d.singleton AND c.singleton`);
  if (!row) throw new Error('data_version or credentials_epoch has no row: run the migrations');
  return {
    version: Number(row.version),
    changedAt: new Date(row.changed_at),
    credentialsEpoch: Number(row.epoch),
  };
}
