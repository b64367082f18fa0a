import { sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import type { Metrics } from '../../http/metrics.js';
import { withTimeout } from '../../ops/timeout.js';

/** A scrape must finish well inside Prometheus's default 10 s scrape timeout. */
const SCRAPE_DB_TIMEOUT_MS = 1_000;

/**
 * Refresh the gauges read from the database at scrape time. A database that fails or hangs sets
 * db_up 0 and leaves the other database gauges as they were: the scrape itself still succeeds,
 * so the process metrics stay visible during an outage.
 */
export async function collectDatabaseMetrics(db: Database, metrics: Metrics): Promise<void> {
  const started = performance.now();
  try {
    await withTimeout(db.rows(sql`SELECT 1`), SCRAPE_DB_TIMEOUT_MS, 'the database');
  } catch {
    metrics.dbUp.set(0);
    return;
  }
  metrics.dbUp.set(1);
  metrics.dbPingSeconds.set((performance.now() - started) / 1000);
  await Promise.all([
    withTimeout(lastSuccessGauge(db, metrics), SCRAPE_DB_TIMEOUT_MS, 'ETL gauges').catch(() => {}),
    withTimeout(connectionGauge(db, metrics), SCRAPE_DB_TIMEOUT_MS, 'pool gauges').catch(() => {}),
  ]);
}

async function lastSuccessGauge(db: Database, metrics: Metrics): Promise<void> {
  const rows = await db.rows<{ name: string; finished: number | null }>(sql`
    SELECT s.name, extract(epoch FROM last.finished_at)::float8 AS finished
    FROM etl_sources s
    JOIN LATERAL (
      SELECT r.finished_at FROM etl_runs r
      WHERE r.source_id = s.id AND r.status = 'succeeded'
      ORDER BY r.started_at DESC LIMIT 1
    ) last ON true
    LIMIT 500`);
  // Reset, so a source that was removed does not linger as a series.
  metrics.etlLastSuccess.reset();
  for (const row of rows) {
    if (row.finished !== null)
      metrics.etlLastSuccess.set({ source: row.name }, Number(row.finished));
  }
}

async function connectionGauge(db: Database, metrics: Metrics): Promise<void> {
  // The embedded database is one connection inside this process: there is no pool to observe.
  if (db.driver !== 'postgres') return;
  const rows = await db.rows<{ state: string; n: number }>(sql`
    SELECT coalesce(state, 'unknown') AS state, count(*)::int AS n
    FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'estate-edge-origin'
    GROUP BY 1`);
  metrics.dbConnections.reset();
  for (const state of ['active', 'idle', 'idle in transaction']) {
    metrics.dbConnections.set({ state }, 0);
  }
  for (const row of rows) metrics.dbConnections.set({ state: row.state }, row.n);
}
