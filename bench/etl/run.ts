/**
 * One ETL run in a process of its own, so its peak memory is the ETL's and nobody else's.
 * Started by bench/etl/main.ts:
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/etl/run.ts <source> [--location <path>]
 *
 * Prints one JSON line on stdout: the run's summary, the wall time of `runSource` and the
 * process's peak RSS. Exit code 0 when it printed (a failed run is in the summary), 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { refreshAnalytics } from '../../origin/analytics/refresh.js';
import { openDatabase } from '../../origin/db/database.js';
import { type RunSummary, runSource } from '../../origin/etl/run.js';

export type EtlChildResult = {
  summary: RunSummary;
  /** `runSource` from call to return: the run, its commit and the ANALYZE after a big load. */
  wallMs: number;
  /** Refreshing the analytics views afterwards (what a real run also does, timed apart). */
  analyticsRefreshMs: number;
  /** `process.resourceUsage().maxRSS`: peak resident set size in KiB, for the whole process. */
  maxRssKiB: number;
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { location: { type: 'string' } },
  });
  const source = positionals[0];
  const url = process.env.DATABASE_URL;
  if (!source || !url)
    throw new Error('usage: DATABASE_URL=… bench/etl/run.ts <source> [--location p]');
  // dataDir is only read by the embedded driver; a URL always selects PostgreSQL.
  const db = await openDatabase({ url, dataDir: '' });
  try {
    const started = performance.now();
    const summary = await runSource(db, source, {
      trigger: 'bench',
      // The load alone is what is compared with raw COPY; the analysts' views are timed apart.
      refreshAnalytics: false,
      ...(values.location ? { location: values.location } : {}),
    });
    const wallMs = Math.round(performance.now() - started);
    const refreshStarted = performance.now();
    await refreshAnalytics(db);
    const result: EtlChildResult = {
      summary,
      wallMs,
      analyticsRefreshMs: Math.round(performance.now() - refreshStarted),
      maxRssKiB: process.resourceUsage().maxRSS,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await db.close();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
