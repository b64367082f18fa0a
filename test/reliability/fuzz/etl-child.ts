/**
 * The ETL parser fuzz, in a process of its own: malformed CSV, NDJSON and GeoJSON files through
 * the real ETL (runSource over declared sources) against a database of its own, a clone of the
 * suite's template, so the King County listings are there to be kept intact. A crash here takes
 * down only this process, and the runner reports it as one.
 *
 * For every file: the run ends (succeeded or failed, never an exception, within a bound); its
 * counts balance (read = inserted + updated + unchanged + rejected) and match its etl_runs row;
 * every rejected row is in etl_rejects with a reason; a failed run changes nothing and says why;
 * the listings stored before (every other source) are untouched.
 *
 * Driven over IPC: receives { seed, plan }, answers with the tally.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { refreshAnalytics } from '../../../origin/analytics/refresh.js';
import { openDatabase } from '../../../origin/db/database.js';
import { runSource } from '../../../origin/etl/run.js';
import { upsertSource } from '../../../origin/etl/sources.js';
import { prng } from '../../../scripts/lib/synthetic.js';
import { listingsChecksum, listingsStamp, sameChecksum } from '../lib/database.js';
import { entry, within } from '../lib/wait.js';
import { type FeedFormat, type FilePlan, fuzzSources, malformedFiles } from './etl-files.js';

export type EtlFuzzJob = { seed: number; plan: FilePlan };

export type EtlFuzzTally = {
  files: number;
  byFormat: Record<
    FeedFormat,
    { files: number; succeeded: number; failed: number; rowsRead: number; rowsRejected: number }
  >;
  byMutation: Record<string, { files: number; succeeded: number; failed: number; ms: number }>;
  /** A few failure messages, to show the ETL says why in words. */
  sampleErrors: string[];
  violations: string[];
  unhandled: string[];
  /** The listings stored before the fuzz (every other source) are exactly as they were. */
  storedIntact: boolean;
  /** No failed run changed a listing or left a reject behind. */
  failedRunsChangedNothing: boolean;
};

/**
 * How long one run may take before it counts as hung: a file of a few MB loads in a second or
 * two here, the 33 MB ones in well under a minute; the bounds leave a wide margin on a loaded
 * two-core machine.
 */
const runTimeoutMs = (bytes: number) => (bytes > 5_000_000 ? 120_000 : 10_000);

const unhandled: string[] = [];
process.on('unhandledRejection', (reason) =>
  unhandled.push(`unhandled rejection: ${String(reason)}`),
);

process.once('message', async (job: EtlFuzzJob) => {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const open = () => openDatabase({ url, dataDir: '', poolMax: 4 });
  let db = await open();
  const dir = mkdtempSync(join(tmpdir(), 'estate-edge-reliability-etl-fuzz-'));
  const tally: EtlFuzzTally = {
    files: 0,
    byFormat: {
      csv: { files: 0, succeeded: 0, failed: 0, rowsRead: 0, rowsRejected: 0 },
      ndjson: { files: 0, succeeded: 0, failed: 0, rowsRead: 0, rowsRejected: 0 },
      geojson: { files: 0, succeeded: 0, failed: 0, rowsRead: 0, rowsRejected: 0 },
    },
    byMutation: {},
    sampleErrors: [],
    violations: [],
    unhandled,
    storedIntact: true,
    failedRunsChangedNothing: true,
  };
  try {
    // A tenth of the sample is kept: every run that changes data refreshes the analytics views
    // (origin/analytics), which grows with the table and would dominate the fuzz's time; 2,000
    // stored listings show "nothing lost" as well as 21,000.
    await db.rows(sql`DELETE FROM listings WHERE id % 10 <> 0`);
    await db.rows(sql`VACUUM ANALYZE listings`);
    await refreshAnalytics(db);
    const sources = fuzzSources();
    for (const source of sources) await upsertSource(db, source);
    const fuzzNames = sources.map((s) => s.name);
    const stored = await listingsChecksum(db, { exceptSources: fuzzNames });
    const storedStamp = await listingsStamp(db, fuzzNames);
    const files = malformedFiles(prng(job.seed), job.plan);
    for (const [i, file] of files.entries()) {
      const path = join(dir, `${i}-${file.mutation}.${file.format}`);
      writeFileSync(path, file.bytes);
      const label = `${file.format} ${file.mutation} (#${i})`;
      const fail = (what: string) => tally.violations.push(`${label}: ${what}`);
      const source = `fuzz-${file.format}`;
      const before = await listingsChecksum(db, { onlySources: [source] });
      const started = performance.now();
      let summary: Awaited<ReturnType<typeof runSource>>;
      try {
        summary = await within(
          `the run over ${label}`,
          runSource(db, source, { location: path, trigger: 'fuzz' }),
          runTimeoutMs(file.bytes.length),
        );
      } catch (error) {
        fail(`the run did not end with a summary: ${describe(error)}`);
        // A hung run keeps its connection (and the source's lock with it): start afresh, so the
        // files after it are still tried.
        await db.close().catch(() => undefined);
        db = await open();
        continue;
      } finally {
        rmSync(path, { force: true });
      }
      tally.files += 1;
      const format = tally.byFormat[file.format];
      const mutation = entry(tally.byMutation, `${file.format} ${file.mutation}`, () => ({
        files: 0,
        succeeded: 0,
        failed: 0,
        ms: 0,
      }));
      format.files += 1;
      mutation.files += 1;
      mutation.ms += Math.round(performance.now() - started);
      format.rowsRead += summary.rowsRead;
      format.rowsRejected += summary.rowsRejected;
      const [recorded] = await db.rows<{
        status: string;
        rows_read: number;
        rows_rejected: number;
        rejects: number;
        reasonless: number;
      }>(sql`
        SELECT status, rows_read, rows_rejected,
               (SELECT count(*)::int FROM etl_rejects WHERE run_id = r.id) AS rejects,
               (SELECT count(*)::int FROM etl_rejects WHERE run_id = r.id AND coalesce(trim(reason), '') = '') AS reasonless
        FROM etl_runs r WHERE id = ${summary.runId}`);
      if (recorded?.status !== summary.status)
        fail(`etl_runs says '${recorded?.status}', the run returned '${summary.status}'`);
      if (summary.status === 'succeeded') {
        format.succeeded += 1;
        mutation.succeeded += 1;
        const balanced =
          summary.rowsRead ===
          summary.rowsInserted + summary.rowsUpdated + summary.rowsUnchanged + summary.rowsRejected;
        if (!balanced)
          fail(
            `counts do not balance: read ${summary.rowsRead} ≠ inserted ${summary.rowsInserted} + updated ${summary.rowsUpdated} + unchanged ${summary.rowsUnchanged} + rejected ${summary.rowsRejected}`,
          );
        if (
          recorded?.rows_read !== summary.rowsRead ||
          recorded?.rows_rejected !== summary.rowsRejected
        )
          fail('etl_runs does not hold the counts the run returned');
        if (recorded?.rejects !== summary.rowsRejected)
          fail(
            `${summary.rowsRejected} rows rejected but ${recorded?.rejects} in etl_rejects: a bad row unaccounted for`,
          );
        if ((recorded?.reasonless ?? 0) > 0)
          fail(`${recorded?.reasonless} rejected row(s) without a reason`);
      } else {
        format.failed += 1;
        mutation.failed += 1;
        if (!summary.error?.trim()) fail('failed without saying why');
        else if (tally.sampleErrors.length < 12)
          tally.sampleErrors.push(`${label}: ${summary.error.slice(0, 200)}`);
        if (!sameChecksum(before, await listingsChecksum(db, { onlySources: [source] }))) {
          fail('a failed run changed the listings');
          tally.failedRunsChangedNothing = false;
        }
        if ((recorded?.rejects ?? 0) > 0) {
          fail('a failed run left rejected rows behind');
          tally.failedRunsChangedNothing = false;
        }
      }
      if ((await listingsStamp(db, fuzzNames)) !== storedStamp) {
        fail('the listings stored before the fuzz (other sources) changed');
        tally.storedIntact = false;
      }
      process.send?.({ progress: i + 1, of: files.length });
    }
    if (!sameChecksum(stored, await listingsChecksum(db, { exceptSources: fuzzNames }))) {
      tally.violations.push('the listings stored before the fuzz (other sources) changed');
      tally.storedIntact = false;
    }
  } catch (error) {
    // Not a property of the ETL (runSource's own errors are caught above): the fuzz's own
    // queries failed. Reported as a failure of the part.
    process.send?.({ fatal: (error as Error).stack ?? String(error) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db.close();
  }
  process.send?.({ tally });
  process.disconnect?.();
});

/**
 * An error that escaped runSource, in words: a hang says so; a database error says what the
 * database refused (drizzle's "Failed query: <the whole SQL>" only wraps it) and on what.
 */
function describe(error: unknown): string {
  const e = error as Error & { cause?: Error & { code?: string } };
  if (!e.cause) return e.message;
  const statement = /^Failed query: (\w+ "?\w+"?)/.exec(e.message)?.[1];
  return `runSource threw: ${e.cause.message}${e.cause.code ? ` (${e.cause.code})` : ''}${statement ? ` in ${statement}` : ''}`;
}
