import { sql } from 'drizzle-orm';
import { type Database, quoteIdent } from '../db/database.js';

/** Below this many incoming rows, index maintenance row by row is cheaper than a rebuild. */
const BULK_MIN_ROWS = 50_000;

/**
 * Merge `incoming` rows with the listings' secondary indexes dropped and rebuilt afterwards, when
 * that is cheaper: a load that at least doubles the table (on 1M rows, COPY into the table with
 * its indexes runs at about half the rate of COPY then building them: docs/benchmarks.md, ETL).
 * The unique key index stays
 * when the merge's ON CONFLICT needs it; a source's first load (a plain INSERT) drops it too, and
 * rebuilding it re-checks uniqueness. DDL is transactional in PostgreSQL, so a killed run leaves every
 * index in place; the price is an exclusive lock on `listings` until commit, which readers wait
 * on, hence only for big loads into a small table (a first load, typically).
 */
export async function withoutSecondaryIndexes<T>(
  tx: Database,
  incoming: number,
  fn: () => Promise<T>,
  options: { keepUnique: boolean } = { keepUnique: true },
): Promise<T> {
  if (incoming < BULK_MIN_ROWS) return fn();
  // Counting stops at the threshold, so this costs little even on a big table.
  const threshold = Math.floor(incoming / 2);
  const [size] = await tx.rows<{ rows: number }>(
    sql`SELECT count(*)::int AS rows FROM (SELECT 1 FROM listings LIMIT ${threshold + 1}) t`,
  );
  if ((size?.rows ?? 0) > threshold) return fn();
  const indexes = await tx.rows<{ name: string; definition: string }>(sql`
    SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = 'listings'::regclass AND NOT x.indisprimary AND (NOT x.indisunique OR ${!options.keepUnique})`);
  for (const index of indexes) await tx.rows(sql.raw(`DROP INDEX ${quoteIdent(index.name)}`));
  const result = await fn();
  await tx.rows(sql`SET LOCAL maintenance_work_mem = '256MB'`);
  for (const index of indexes) await tx.rows(sql.raw(index.definition));
  return result;
}
