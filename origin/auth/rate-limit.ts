import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';

/**
 * Fixed-window counters in PostgreSQL. Chosen over an in-memory bucket because every origin
 * replica must see the same count (an attacker spreading attempts over replicas would otherwise
 * multiply the limit) and a restart must not reset it; over Redis because the origin does not
 * have Redis yet (the next issue moves limits there). Login failures are rare, so one upsert
 * per failure is no load.
 */
export type WindowParams = { key: string; windowSeconds: number };

export type WindowCount = { count: number; retryAfterSeconds: number };

function windowStartSql(windowSeconds: number) {
  return sql`to_timestamp(floor(extract(epoch FROM now()) / ${windowSeconds}) * ${windowSeconds})`;
}

function retryAfterSql(windowSeconds: number) {
  return sql`greatest(1, ceil(${windowSeconds} - (extract(epoch FROM now())::numeric % ${windowSeconds})))::int`;
}

/** The count in the current window, without counting. */
export async function peekWindow(db: Database, params: WindowParams): Promise<WindowCount> {
  const [row] = await db.rows<{ count: number | null; retry_after: number }>(sql`
    SELECT (SELECT count FROM rate_limit_windows
             WHERE key = ${params.key} AND window_start = ${windowStartSql(params.windowSeconds)}) AS count,
           ${retryAfterSql(params.windowSeconds)} AS retry_after`);
  return { count: row?.count ?? 0, retryAfterSeconds: row?.retry_after ?? params.windowSeconds };
}

/** Count one event in the current window; older windows of the key are dropped. */
export async function hitWindow(db: Database, params: WindowParams): Promise<WindowCount> {
  const start = windowStartSql(params.windowSeconds);
  await db.rows(
    sql`DELETE FROM rate_limit_windows WHERE key = ${params.key} AND window_start < ${start}`,
  );
  const [row] = await db.rows<{ count: number; retry_after: number }>(sql`
    INSERT INTO rate_limit_windows (key, window_start, count) VALUES (${params.key}, ${start}, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_windows.count + 1
    RETURNING count, ${retryAfterSql(params.windowSeconds)} AS retry_after`);
  return { count: row?.count ?? 1, retryAfterSeconds: row?.retry_after ?? params.windowSeconds };
}
