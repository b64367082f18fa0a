import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import type { EtlRunStatus } from '../../db/schema/etl-runs.js';
import { NotFoundError } from '../../errors.js';
import { redactLocation } from '../../etl/feed-location.js';

/** A run as the API shows it (snake_case on the wire, like the rest of /v1). */
export type RunView = {
  id: number;
  source: string;
  status: EtlRunStatus;
  trigger: string;
  location: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  rows: { read: number; inserted: number; updated: number; unchanged: number; rejected: number };
  timings: Record<string, number> | null;
  error: string | null;
  links: { self: string; rejects: string };
};

type RunRow = {
  id: number;
  source: string;
  status: EtlRunStatus;
  trigger: string;
  location: string;
  started_at: Date | string;
  finished_at: Date | string | null;
  rows_read: number;
  rows_inserted: number;
  rows_updated: number;
  rows_unchanged: number;
  rows_rejected: number;
  timings: Record<string, number> | null;
  error: string | null;
};

const RUN_COLUMNS = sql`r.id, s.name AS source, r.status, r.trigger, r.location, r.started_at,
  r.finished_at, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_unchanged, r.rows_rejected,
  r.timings, r.error`;

export type ListRunsParams = {
  source?: string | undefined;
  statuses?: readonly EtlRunStatus[] | undefined;
  /** Only runs older than this id: the keyset cursor (ids grow with start order). */
  beforeId?: number | undefined;
  limit: number;
};

/** Runs, newest first; one more than `limit` is read to know whether another page exists. */
export async function listRuns(
  db: Database,
  { source, statuses, beforeId, limit }: ListRunsParams,
): Promise<{ items: RunView[]; nextBeforeId: number | null }> {
  const conditions: SQL[] = [sql`true`];
  if (source !== undefined) conditions.push(sql`s.name = ${source}`);
  if (statuses?.length) {
    conditions.push(
      sql`r.status IN (${sql.join(
        statuses.map((s) => sql`${s}`),
        sql`, `,
      )})`,
    );
  }
  if (beforeId !== undefined) conditions.push(sql`r.id < ${beforeId}`);
  const rows = await db.rows<RunRow>(sql`
    SELECT ${RUN_COLUMNS}
    FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id
    WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY r.id DESC
    LIMIT ${limit + 1}`);
  const page = rows.slice(0, limit).map(runView);
  return { items: page, nextBeforeId: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
}

export type GetRunParams = { id: number };

export async function getRun(db: Database, { id }: GetRunParams): Promise<RunView> {
  const [row] = await db.rows<RunRow>(sql`
    SELECT ${RUN_COLUMNS}
    FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id
    WHERE r.id = ${id}`);
  if (!row) throw new NotFoundError(`no ETL run with id ${id}`);
  return runView(row);
}

export type RejectView = { row_number: number; reason: string; raw: string };

export type ListRejectsParams = { runId: number; afterRow?: number | undefined; limit: number };

/** A run's rejected rows in file order, paged by row number (unique within a run). */
export async function listRejects(
  db: Database,
  { runId, afterRow, limit }: ListRejectsParams,
): Promise<{ items: RejectView[]; nextAfterRow: number | null }> {
  // The run must exist: an empty page for a run id nobody ever had would hide a typo.
  const [run] = await db.rows<{ id: number }>(sql`SELECT id FROM etl_runs WHERE id = ${runId}`);
  if (!run) throw new NotFoundError(`no ETL run with id ${runId}`);
  const rows = await db.rows<RejectView>(sql`
    SELECT row_number, reason, raw FROM etl_rejects
    WHERE run_id = ${runId} AND row_number > ${afterRow ?? -1}
    ORDER BY row_number
    LIMIT ${limit + 1}`);
  const page = rows.slice(0, limit);
  return {
    items: page,
    nextAfterRow: rows.length > limit ? (page.at(-1)?.row_number ?? null) : null,
  };
}

function runView(row: RunRow): RunView {
  const started = new Date(row.started_at);
  const finished = row.finished_at === null ? null : new Date(row.finished_at);
  return {
    id: row.id,
    source: row.source,
    status: row.status,
    trigger: row.trigger,
    location: redactLocation(row.location),
    started_at: started.toISOString(),
    finished_at: finished?.toISOString() ?? null,
    duration_ms: finished ? finished.getTime() - started.getTime() : null,
    rows: {
      read: row.rows_read,
      inserted: row.rows_inserted,
      updated: row.rows_updated,
      unchanged: row.rows_unchanged,
      rejected: row.rows_rejected,
    },
    timings: row.timings,
    error: row.error,
    links: { self: `/v1/etl/runs/${row.id}`, rejects: `/v1/etl/runs/${row.id}/rejects` },
  };
}
