import type { ChildProcess } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { readDataVersion } from '../../../origin/db/data-version.js';
import { spawnScript, stopChild } from '../lib/children.js';
import { onCleanup } from '../lib/cleanup.js';
import { listingsChecksum, sameChecksum } from '../lib/database.js';
import { until, within } from '../lib/wait.js';
import type { FaultContext, FaultReport } from './faults.js';

const SOURCE = 'synthetic';
/** The whole next run, on a loaded two-core machine. */
const NEXT_RUN_TIMEOUT_MS = 300_000;

type RunRow = {
  id: number;
  status: string;
  rows_read: number;
  rows_inserted: number;
  rows_updated: number;
  rows_unchanged: number;
  rows_rejected: number;
  error: string | null;
};

/**
 * An ETL run SIGKILLed midway, during load: `npm run etl -- synthetic` (the CLI, run as
 * `node --import tsx origin/etl/cli.ts` so the signal reaches the process doing the work rather
 * than npm's shell) over a synthetic feed, killed once PostgreSQL reports rows copied into the
 * staging table (pg_stat_progress_copy). A run is one transaction: the listings must be exactly
 * as before, nothing of the dead run may be stored, and the next run must succeed, balance its
 * counts and mark the dead one abandoned. Clients must not notice any of it (no 5xx allowed).
 *
 * The feed stays under the ETL's bulk threshold (50,000 rows, origin/etl/bulk.ts): a bigger first
 * load drops the listings' indexes and holds an exclusive lock until commit, by design, and the
 * readers of the soak would wait on it; that is a documented trade-off, not a fault.
 */
export async function runEtlKill(context: FaultContext): Promise<FaultReport> {
  const { platform, timings } = context;
  const { db } = platform;
  const violations: string[] = [];
  const fail = (what: string) => violations.push(`etl-kill: ${what}`);
  const before = await listingsChecksum(db);
  const othersBefore = await listingsChecksum(db, { exceptSources: [SOURCE] });
  const versionBefore = (await readDataVersion(db)).version;
  const threshold = Math.floor(timings.etlRows / 4);
  const startedAt = Date.now();

  const killed = startCli(platform.databaseUrl);
  let copiedAtKill = 0;
  try {
    copiedAtKill = await until(
      `${threshold} rows copied into staging`,
      async () => {
        if (killed.child.exitCode !== null)
          throw new Error(
            `the ETL run ended (exit ${killed.child.exitCode}) before it could be killed: ${killed.output()}`,
          );
        const [row] = await db.rows<{ n: number }>(
          sql`SELECT coalesce(max(tuples_processed), 0)::int AS n FROM pg_stat_progress_copy WHERE datname = current_database()`,
        );
        return (row?.n ?? 0) >= threshold ? (row?.n as number) : undefined;
      },
      90_000,
      25,
    );
  } catch (error) {
    fail(`inconclusive: ${(error as Error).message}`);
  }
  const killedAt = Date.now();
  await stopChild(killed.child, 'SIGKILL');

  const [dead] = await db.rows<RunRow>(sql`
    SELECT r.* FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id
    WHERE s.name = ${SOURCE} ORDER BY r.id DESC LIMIT 1`);
  if (dead?.status !== 'running')
    fail(`the killed run is recorded as '${dead?.status}', not 'running'`);
  const afterKill = await listingsChecksum(db);
  const versionAfterKill = (await readDataVersion(db)).version;
  if (!sameChecksum(before, afterKill) || versionAfterKill !== versionBefore)
    fail(
      `the killed run changed the listings (${before.count} → ${afterKill.count} rows, data version ${versionBefore} → ${versionAfterKill})`,
    );
  const [leftovers] = await db.rows<{ listings: number; rejects: number }>(sql`
    SELECT (SELECT count(*)::int FROM listings WHERE last_run_id = ${dead?.id ?? -1}) AS listings,
           (SELECT count(*)::int FROM etl_rejects WHERE run_id = ${dead?.id ?? -1}) AS rejects`);
  if ((leftovers?.listings ?? 0) + (leftovers?.rejects ?? 0) > 0)
    fail(
      `the killed run left ${leftovers?.listings} listing(s) and ${leftovers?.rejects} reject(s) behind (half-written)`,
    );

  // The dead process's session lock goes when PostgreSQL notices the closed connection.
  await until(
    "the killed run's session to end",
    async () => {
      const [row] = await db.rows<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`,
      );
      return row?.n === 0 ? true : undefined;
    },
    15_000,
    100,
  ).catch(() => fail('the killed run still held its lock 15 s later'));

  const next = startCli(platform.databaseUrl);
  const code = await within(
    'the next ETL run',
    new Promise<number | null>((resolve) => next.child.once('exit', (c) => resolve(c))),
    NEXT_RUN_TIMEOUT_MS,
  ).catch((error: Error) => {
    fail(error.message);
    return null;
  });
  const recoveredAt = Date.now();
  const runs = await db.rows<RunRow>(sql`
    SELECT r.* FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id
    WHERE s.name = ${SOURCE} ORDER BY r.id DESC LIMIT 2`);
  const [latest, previous] = runs;
  if (code !== 0) fail(`the next run exited ${code}: ${next.output()}`);
  if (latest?.status !== 'succeeded')
    fail(`the next run is '${latest?.status}': ${latest?.error ?? ''}`);
  else {
    const balanced =
      latest.rows_read ===
      latest.rows_inserted + latest.rows_updated + latest.rows_unchanged + latest.rows_rejected;
    if (!balanced || latest.rows_read !== timings.etlRows)
      fail(
        `the next run's counts do not balance: read ${latest.rows_read} of ${timings.etlRows}, inserted ${latest.rows_inserted}, updated ${latest.rows_updated}, unchanged ${latest.rows_unchanged}, rejected ${latest.rows_rejected}`,
      );
  }
  if (previous?.id !== dead?.id || previous?.status !== 'abandoned')
    fail(`the killed run is '${previous?.status}' after the next run, not 'abandoned'`);
  const othersAfter = await listingsChecksum(db, { exceptSources: [SOURCE] });
  if (!sameChecksum(othersBefore, othersAfter)) fail('the listings of the other sources changed');

  return {
    fault: 'etl-kill',
    what: `an ETL run of ${timings.etlRows.toLocaleString('en')} synthetic rows SIGKILLed after ${copiedAtKill.toLocaleString('en')} rows were staged; then run again`,
    startedAtS: Math.round((startedAt - context.loadStartedAt) / 100) / 10,
    outageMs: killedAt - startedAt,
    recoveryMs: latest?.status === 'succeeded' ? recoveredAt - killedAt : null,
    recoveryBoundMs: NEXT_RUN_TIMEOUT_MS,
    recovery: 'from the kill until the next run succeeded (clients must see no 5xx at any point)',
    clients: {},
    servedStale: 0,
    integrity: {
      checked:
        'listings checksum and data version before the run and after the kill; nothing stored under the dead run; the next run balanced; other sources unchanged',
      ok: violations.length === 0,
      before,
      after: afterKill,
      dataVersion: { before: versionBefore, after: versionAfterKill },
    },
    details: {
      killedRun: dead?.id,
      rowsStagedAtKill: copiedAtKill,
      nextRun: latest && {
        id: latest.id,
        status: latest.status,
        read: latest.rows_read,
        inserted: latest.rows_inserted,
        updated: latest.rows_updated,
        unchanged: latest.rows_unchanged,
        rejected: latest.rows_rejected,
      },
    },
    violations,
    allowed: {},
    backAt: killedAt,
    window: { from: startedAt, to: recoveredAt + 2_000 },
  };
}

function startCli(databaseUrl: string): { child: ChildProcess; output: () => string } {
  const child = spawnScript(
    'origin/etl/cli.ts',
    { DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' },
    ['ignore', 'pipe', 'pipe'],
    [SOURCE],
  );
  const forget = onCleanup('an ETL run', () => stopChild(child, 'SIGKILL'));
  child.once('exit', forget);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = `${output}${chunk.toString()}`.slice(-2_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output.trim() };
}
