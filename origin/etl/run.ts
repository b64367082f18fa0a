import { and, eq, sql } from 'drizzle-orm';
import { logRefreshFailure, refreshAnalytics } from '../analytics/refresh.js';
import { bumpDataVersion } from '../db/data-version.js';
import type { Database } from '../db/database.js';
import { etlRuns } from '../db/schema/index.js';
import { withoutSecondaryIndexes } from './bulk.js';
import { RunConflictError } from './errors.js';
import { redactLocation } from './feed-location.js';
import { type OpenInputOptions, openInput } from './fetch-input.js';
import { readRecords } from './readers.js';
import type { Mapping } from './source-config.js';
import { getSource, type Source } from './sources.js';
import {
  createStagingTable,
  insertStaged,
  mergeStaged,
  rejectDuplicateKeys,
  rejectedLine,
  STAGING_COLUMNS,
  STAGING_TABLE,
  sourceIsEmpty,
  stagedCounts,
  stagedLine,
  storeRejects,
} from './staging.js';
import { compileTransform } from './transform.js';

export type RunProgress = { rowsRead: number; rowsRejected: number; elapsedMs: number };

export type RunOptions = {
  /** Who started it: 'cli', 'api', 'schedule', 'seed'. */
  trigger?: string;
  /** Read this location instead of the source's own (a one-off file with the source's mapping). */
  location?: string;
  onProgress?: (progress: RunProgress) => void;
  /** Rows between two progress reports. */
  progressEvery?: number;
  signal?: AbortSignal;
  /** Retries and timeouts for a remote source. */
  fetch?: Omit<OpenInputOptions, 'signal'>;
  /**
   * Refresh the analytics views after a run that changed data (default true). The ETL benchmark
   * turns it off to time the load alone, and times the refresh separately.
   */
  refreshAnalytics?: boolean;
};

export type RunSummary = {
  runId: number;
  source: string;
  status: 'succeeded' | 'failed';
  rowsRead: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsUnchanged: number;
  rowsRejected: number;
  timings: Record<string, number>;
  error?: string;
};

export type StartedRun = { runId: number; finished: Promise<RunSummary> };

/**
 * Start a run of a source. Resolves as soon as the run is recorded (with its id); `finished`
 * settles when it ends. A second run of the same source while one runs is refused with a
 * RunConflictError, across processes (the source's advisory lock).
 */
export async function startRun(
  db: Database,
  sourceName: string,
  options: RunOptions = {},
): Promise<StartedRun> {
  let announce: (runId: number) => void = () => {};
  const started = new Promise<number>((resolve) => {
    announce = resolve;
  });
  const finished = db
    .withLock(
      `etl:${sourceName}`,
      async () => {
        // Looked up under the lock: on PGlite a running load holds the only connection, so the
        // conflict must be detected before any query.
        const source = await getSource(db, { name: sourceName });
        await abandonDeadRuns(db, source.id);
        const location = options.location ?? source.location;
        const [run] = await db.orm
          .insert(etlRuns)
          .values({
            sourceId: source.id,
            trigger: options.trigger ?? 'cli',
            // References stay as names; a literal credential in a one-off location is not kept.
            location: redactLocation(location),
          })
          .returning({ id: etlRuns.id });
        const runId = (run as { id: number }).id;
        announce(runId);
        return executeRun(db, source, runId, location, options);
      },
      { wait: false },
    )
    .then(async (result) => {
      if (!result.acquired)
        throw new RunConflictError(`a run of source '${sourceName}' is already in progress`);
      const summary = result.value;
      // The analysts' views follow the data (docs/analytics.md). After the source's lock is
      // released (the next run need not wait for it), before `finished` settles (a CLI run exits
      // with fresh views). A failed refresh is logged, never fatal: the run's rows are in.
      if (options.refreshAnalytics !== false && summary.rowsInserted + summary.rowsUpdated > 0)
        await refreshAnalytics(db).catch(logRefreshFailure);
      return summary;
    });
  const runId = await Promise.race([started, finished.then(() => started)]);
  return { runId, finished };
}

/** Start a run and wait for it to end. */
export async function runSource(
  db: Database,
  sourceName: string,
  options: RunOptions = {},
): Promise<RunSummary> {
  const { finished } = await startRun(db, sourceName, options);
  return finished;
}

/**
 * Runs still marked 'running' while we hold the source's lock belong to a process that died (its
 * lock died with its connection): mark them so nobody waits for them.
 */
async function abandonDeadRuns(db: Database, sourceId: number): Promise<void> {
  await db.orm
    .update(etlRuns)
    .set({
      status: 'abandoned',
      finishedAt: sql`now()`,
      error: 'the process running it stopped before it finished; nothing it read was kept',
    })
    .where(and(eq(etlRuns.sourceId, sourceId), eq(etlRuns.status, 'running')));
}

async function executeRun(
  db: Database,
  source: Source,
  runId: number,
  location: string,
  options: RunOptions,
): Promise<RunSummary> {
  const started = performance.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => {
    timings[name] = Math.round(performance.now() - since);
    return performance.now();
  };
  let counts = { read: 0, rejected: 0 };
  try {
    const summary = await db.transaction(async (tx) => {
      let t = performance.now();
      await createStagingTable(tx);
      const input = await openInput(location, {
        ...options.fetch,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      t = lap('open', t);
      await tx.copyFrom(STAGING_TABLE, STAGING_COLUMNS, stageRows(input, source, options, started));
      t = lap('read', t);
      // Statistics on the staging table, or the planner guesses its size and can pick a nested loop
      // over hundreds of thousands of rows in the merge.
      await tx.rows(sql`ANALYZE etl_staging`);
      await rejectDuplicateKeys(tx);
      counts = await stagedCounts(tx);
      await storeRejects(tx, runId);
      t = lap('validate', t);
      const valid = counts.read - counts.rejected;
      const firstLoad = await sourceIsEmpty(tx, source.id);
      const merged = await withoutSecondaryIndexes(
        tx,
        valid,
        () => (firstLoad ? insertStaged(tx, source.id, runId) : mergeStaged(tx, source.id, runId)),
        { keepUnique: !firstLoad },
      );
      t = lap('merge', t);
      const result: RunSummary = {
        runId,
        source: source.name,
        status: 'succeeded',
        rowsRead: counts.read,
        rowsInserted: merged.inserted,
        rowsUpdated: merged.updated,
        rowsUnchanged: valid - merged.inserted - merged.updated,
        rowsRejected: counts.rejected,
        timings,
      };
      timings.total = Math.round(performance.now() - started);
      // Cached answers at the edge carry the data version in their key (docs/edge-gateway.md).
      if (merged.inserted + merged.updated > 0) await bumpDataVersion(tx, `etl run ${runId}`);
      // Recorded in the same transaction as the data: a run is succeeded exactly when its rows are in.
      await tx.orm.update(etlRuns).set(runRecord(result)).where(eq(etlRuns.id, runId));
      return result;
    });
    if (summary.rowsInserted + summary.rowsUpdated > 10_000) {
      // Fresh statistics right away: the planner's index choice for searches depends on them.
      // After the commit, so a failure here must not mark a run whose rows are in as failed;
      // autovacuum's analyze catches up anyway.
      await db.rows(sql`ANALYZE listings`).catch(() => undefined);
    }
    return summary;
  } catch (error) {
    timings.total = Math.round(performance.now() - started);
    const failed: RunSummary = {
      runId,
      source: source.name,
      status: 'failed',
      rowsRead: counts.read,
      rowsInserted: 0,
      rowsUpdated: 0,
      rowsUnchanged: 0,
      rowsRejected: counts.rejected,
      timings,
      error: describeFailure(error),
    };
    await db.orm.update(etlRuns).set(runRecord(failed)).where(eq(etlRuns.id, runId));
    return failed;
  }
}

async function* stageRows(
  input: import('node:stream').Readable,
  source: Source,
  options: RunOptions,
  started: number,
): AsyncGenerator<string> {
  const mapping: Mapping = source.mapping;
  const transform = compileTransform(mapping);
  const every = options.progressEvery ?? 100_000;
  let read = 0;
  let rejected = 0;
  for await (const item of readRecords(source.format, input, {
    mapping,
    requiredFields: requiredColumns(mapping),
  })) {
    read += 1;
    if (item.kind === 'unreadable') {
      rejected += 1;
      yield rejectedLine(item.rowNumber, item.raw, item.reason);
    } else {
      const result = transform(item.fields);
      if (result.ok) {
        yield stagedLine(item.rowNumber, result.listing);
      } else {
        rejected += 1;
        yield rejectedLine(item.rowNumber, item.raw(), result.reason);
      }
    }
    if (read % every === 0) {
      options.onProgress?.({
        rowsRead: read,
        rowsRejected: rejected,
        elapsedMs: performance.now() - started,
      });
      options.signal?.throwIfAborted();
    }
  }
}

/** Columns a CSV header must have: the key's fields and every mapped field. */
function requiredColumns(mapping: Mapping): string[] {
  const from = (spec: string | { from: string }) => (typeof spec === 'string' ? spec : spec.from);
  const names = [
    ...mapping.key.fields.map(from),
    ...Object.values(mapping.fields).map((s) => from(s as string)),
  ];
  return [...new Set(names.map((n) => n.split('.')[0] as string))];
}

function runRecord(summary: RunSummary) {
  return {
    status: summary.status,
    finishedAt: sql`now()`,
    rowsRead: summary.rowsRead,
    rowsInserted: summary.rowsInserted,
    rowsUpdated: summary.rowsUpdated,
    rowsUnchanged: summary.rowsUnchanged,
    rowsRejected: summary.rowsRejected,
    timings: summary.timings,
    error: summary.error ?? null,
  };
}

function describeFailure(error: unknown): string {
  // drizzle wraps driver errors in "Failed query: <the whole SQL>"; the cause is what matters.
  const wrapped = error as Error & { cause?: unknown };
  const e = (wrapped.cause instanceof Error ? wrapped.cause : wrapped) as Error & { code?: string };
  // Our own errors already read as sentences; database errors get their SQLSTATE for searching.
  const text =
    e.code && /^[0-9A-Z]{5}$/.test(e.code)
      ? `database error ${e.code}: ${e.message}`
      : (e.message ?? String(error));
  return storableText(text, 2000);
}

/**
 * Text as the run record can keep it: a message may quote the feed (a header with a NUL, a 1 MB
 * line), and PostgreSQL refuses NUL in text, which would leave the run marked running forever.
 */
function storableText(text: string, max: number): string {
  const shown = text.replaceAll('\0', '\\0');
  return shown.length <= max ? shown : `${shown.slice(0, max)}… (${shown.length} characters)`;
}
