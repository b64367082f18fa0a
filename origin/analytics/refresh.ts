import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { createLogger } from '../logger.js';

export type RefreshedView = {
  /** The materialized view, in schema `analytics`. */
  view: string;
  /** Refreshed CONCURRENTLY (readers not blocked); false for a view never populated. */
  concurrently: boolean;
  ms: number;
};

export type RefreshAnalyticsOptions = {
  /**
   * How long to wait for a lock before giving up. A refresh waits for nothing in normal use
   * (CONCURRENTLY does not conflict with readers), but a migration or a manual REFRESH holding a
   * view must not hang the ETL run that asked: it fails, and the next run refreshes.
   */
  lockTimeoutMs?: number;
};

/**
 * Refresh the materialized views of the `analytics` schema (docs/analytics.md), concurrently when
 * they are populated, so analysts keep reading while it runs. Call it after data changed; the ETL
 * does after every run that inserted or updated listings. Works the same on PGlite.
 *
 * Goes through `refresh_analytics_views()` (migration 0005): only a view's owner may refresh it,
 * and that SECURITY DEFINER function is what lets the least-privilege app role do so.
 *
 * @example
 *   const views = await refreshAnalytics(db); // [{ view: 'market_monthly', concurrently: true, ms: 41 }, …]
 */
export async function refreshAnalytics(
  db: Database,
  options: RefreshAnalyticsOptions = {},
): Promise<RefreshedView[]> {
  const lockTimeoutMs = Math.max(1, Math.trunc(options.lockTimeoutMs ?? 60_000));
  return db.transaction(async (tx) => {
    // SET LOCAL: the timeout ends with this transaction and never leaks into a pooled connection.
    await tx.rows(sql.raw(`SET LOCAL lock_timeout = ${lockTimeoutMs}`));
    const rows = await tx.rows<{
      view_name: string;
      refreshed_concurrently: boolean;
      milliseconds: number;
    }>(sql`SELECT view_name, refreshed_concurrently, milliseconds FROM refresh_analytics_views()`);
    return rows.map((r) => ({
      view: r.view_name,
      concurrently: r.refreshed_concurrently,
      ms: Math.round(Number(r.milliseconds)),
    }));
  });
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
let logger: ReturnType<typeof createLogger> | undefined;

/**
 * For callers whose own outcome must not depend on the analysts' views (an ETL run whose rows are
 * committed): log why a refresh failed, as one structured line, and carry on. The views stay as
 * they were until the next refresh.
 *
 * @example
 *   await refreshAnalytics(db).catch(logRefreshFailure);
 */
export function logRefreshFailure(error: unknown): void {
  const level = process.env.LOG_LEVEL ?? 'info';
  logger ??= createLogger(LOG_LEVELS.includes(level) ? level : 'info');
  // drizzle wraps driver errors in "Failed query: <the SQL>"; the cause says what went wrong.
  const wrapped = error as Error & { cause?: unknown };
  const cause = (wrapped.cause instanceof Error ? wrapped.cause : wrapped) as Error & {
    code?: string;
  };
  logger.warn(
    { component: 'analytics', code: cause.code, reason: cause.message ?? String(error) },
    'analytics views not refreshed; they keep their previous contents until the next refresh',
  );
}
