/**
 * Data for the benchmarks that need a loaded database but do not time the load (backups, the
 * edge): N synthetic listings through the real ETL, as bench/api/main.ts loads its own, so every part
 * measures the same kind of table.
 */
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { Database } from '../../origin/db/database.js';
import { runSource } from '../../origin/etl/run.js';
import { upsertSource } from '../../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from '../../scripts/lib/synthetic.js';

/**
 * Write `rows` synthetic listings to `<workDir>/listings.csv` and load them with the ETL into the
 * migrated database `db`; throws unless every row was inserted. The feed is removed afterwards.
 *
 * @example
 * await migrate(db);
 * await loadSyntheticListings(db, workDir, 1_000_000);
 */
export async function loadSyntheticListings(
  db: Database,
  workDir: string,
  rows: number,
): Promise<void> {
  const feed = join(workDir, 'listings.csv');
  await writeSyntheticCsv(feed, rows);
  await upsertSource(db, syntheticSource(feed));
  const summary = await runSource(db, 'synthetic', { trigger: 'bench' });
  if (summary.status !== 'succeeded' || summary.rowsInserted !== rows)
    throw new Error(
      `the ETL load failed: ${summary.status}, ${summary.rowsInserted} of ${rows} inserted (${summary.error ?? 'no error'})`,
    );
  await db.rows(sql`ANALYZE`);
}
