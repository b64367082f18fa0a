/**
 * Backup benchmark: the backup library (origin/backup: dump with manifest, restore, the restore
 * drill) against raw `pg_dump -Fc` and `pg_restore` of the same database (the limit), on this
 * machine, in one run.
 *
 *   npm run bench:backup -- [--rows 1000000] [--runs 3] [--json-out <path>]
 *
 * It loads N synthetic listings with the real ETL into a scratch database, then per repetition:
 * a backup as `npm run backup -- run` takes it (`dumpDatabase`: pg_dump -Fc through a hash into
 * a temporary file, the facts of the same snapshot, fsync, rename, manifest), raw pg_dump -Fc to a
 * file, a restore as `npm run restore` does it (`restoreBackup`: sha256 check, pg_restore in one
 * transaction into a staging database, rename), raw pg_restore into a new database, and the
 * restore drill (`verifyBackup`, as `npm run verify-backup`). Medians and ratios are printed and
 * written to bench/results/. The exit code is non-zero only when something broke (a tool failed,
 * a restored copy with the wrong row count). See docs/benchmarks.md.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { dumpDatabase } from '../../origin/backup/dump.js';
import type { EncryptionKeys } from '../../origin/backup/encrypt.js';
import { restoreBackup } from '../../origin/backup/restore.js';
import { verifyBackup } from '../../origin/backup/verify.js';
import { type Database, openDatabase } from '../../origin/db/database.js';
import { migrate } from '../../origin/db/migrate.js';
import { benchAdminUrl, runMain, saveResults, wholeNumber } from '../lib/cli.js';
import { machineInfo } from '../lib/results.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import { since } from '../lib/stats.js';
import { loadSyntheticListings } from '../lib/synthetic-listings.js';
import { formatFixed, formatInteger } from '../lib/table.js';
import { rawDump, rawRestore } from './raw-tools.js';
import { type BackupRun, summarizeBackups } from './report.js';

/** Ctrl-C: exit code 130 after the cleanup. */
class Interrupted extends Error {
  readonly code = 'INTERRUPTED';
}

type Options = { rows: number; runs: number; adminUrl: string; jsonOut?: string };

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      runs: { type: 'string' },
      'json-out': { type: 'string' },
    },
  });
  return {
    rows: wholeNumber('--rows', values.rows ?? process.env.BENCH_ROWS, 1_000_000),
    runs: wholeNumber('--runs', values.runs, 3),
    adminUrl: benchAdminUrl(),
    ...(values['json-out'] ? { jsonOut: values['json-out'] } : {}),
  };
}

/** No encryption: the figures are pg_dump's and ours, not age's or gpg's. */
const NO_KEYS: EncryptionKeys = { ageRecipients: [] };

async function main(): Promise<void> {
  const options = parseOptions();
  const { rows, runs, adminUrl } = options;
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const log = (message: string) => console.error(`[bench:backup] ${message}`);

  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-backup-'));
  const scratch = await createScratchDatabase(adminUrl, 'estate_bench_backup');
  // Databases restored into, dropped after each step (and at the end, whatever happened).
  const restored = new Set<string>();
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const dropDatabase = async (name: string) => {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    restored.delete(name);
  };
  const cleanUp = async () => {
    for (const name of [...restored])
      await dropDatabase(name).catch((e) => log(`could not drop ${name}: ${e}`));
    await admin.end({ timeout: 5 });
    await scratch.drop().catch((e) => log(`could not drop ${scratch.name}: ${e}`));
    await rm(workDir, { recursive: true, force: true });
  };
  // Ctrl-C stops the step in progress (pg_dump / pg_restore are stopped, a half restore is
  // dropped by the library) and unwinds to the cleanup below; exiting at once would leave a
  // database that a running restore renames into place a moment later.
  const controller = new AbortController();
  const { signal } = controller;
  const stopIfAsked = () => {
    if (signal.aborted) throw new Interrupted();
  };
  process.once('SIGINT', () => {
    log('interrupted: stopping, then dropping the scratch databases');
    controller.abort('SIGINT');
  });

  let db: Database | undefined;
  try {
    db = await openDatabase({ url: scratch.url, dataDir: '', poolMax: 2 });
    log(`database ${scratch.name}, files in ${workDir}`);
    await migrate(db);
    let t = performance.now();
    await loadSyntheticListings(db, workDir, rows);
    stopIfAsked();
    const [size] = await db.rows<{ database: string; listings: string }>(sql`
      SELECT pg_database_size(current_database())::int8 AS database,
             pg_total_relation_size('listings')::int8 AS listings`);
    const [versions] = await db.rows<{ postgres: string; postgis: string }>(sql`
      SELECT current_setting('server_version') AS postgres, postgis_lib_version() AS postgis`);
    await db.close();
    db = undefined;
    const databaseBytes = Number(size?.database);
    log(
      `loaded ${formatInteger(rows)} listings with the ETL in ${formatFixed(since(t) / 1000, 1)} s (not timed); database ${formatInteger(databaseBytes / 2 ** 20)} MiB`,
    );

    const backupDir = join(workDir, 'backups');
    const rawDir = join(workDir, 'raw');
    await mkdir(rawDir, { recursive: true });
    // Each timed step starts with a checkpoint, so none pays for the WAL the one before wrote
    // (a restore writes the whole database).
    const checkpoint = () => admin`CHECKPOINT`;
    const countListings = async (database: string) => {
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        const [row] = await client<{ n: string }[]>`SELECT count(*)::int8 AS n FROM listings`;
        return Number(row?.n);
      } finally {
        await client.end({ timeout: 5 });
      }
    };
    const expectListings = async (what: string, database: string) => {
      const n = await countListings(database);
      if (n !== rows) throw new Error(`${what}: ${n} listings restored, ${rows} expected`);
    };

    const results: BackupRun[] = [];
    for (let run = 1; run <= runs; run++) {
      stopIfAsked();
      log(`run ${run}/${runs}: backup (dump + manifest)`);
      await checkpoint();
      t = performance.now();
      const backup = await dumpDatabase({
        source: 'app',
        url: scratch.url,
        dir: backupDir,
        encryption: 'none',
        keys: NO_KEYS,
        signal,
      });
      const dumpMs = since(t);

      log(`run ${run}/${runs}: raw pg_dump -Fc`);
      await checkpoint();
      const rawPath = join(rawDir, `raw-${run}.dump`);
      t = performance.now();
      await rawDump(scratch.url, rawPath, signal);
      const rawDumpMs = since(t);
      const rawBytes = (await stat(rawPath)).size;

      stopIfAsked();
      log(`run ${run}/${runs}: restore`);
      const target = `${scratch.name}_restored`;
      restored.add(target);
      await checkpoint();
      t = performance.now();
      await restoreBackup({ backup, adminUrl, keys: NO_KEYS, target, signal });
      const restoreMs = since(t);
      await expectListings('restore', target);
      await dropDatabase(target);

      stopIfAsked();
      log(`run ${run}/${runs}: raw pg_restore`);
      const rawTarget = `${scratch.name}_raw`;
      restored.add(rawTarget);
      await checkpoint();
      t = performance.now();
      await rawRestore(admin, adminUrl, rawTarget, rawPath, signal);
      const rawRestoreMs = since(t);
      await expectListings('raw pg_restore', rawTarget);
      await dropDatabase(rawTarget);

      stopIfAsked();
      log(`run ${run}/${runs}: restore drill`);
      const drill = `${scratch.name}_verify`;
      restored.add(drill);
      await checkpoint();
      t = performance.now();
      // verifyBackup drops its scratch database itself, whatever happens.
      const verified = await verifyBackup({
        backup,
        adminUrl,
        keys: NO_KEYS,
        scratch: drill,
        signal,
      });
      const verifyMs = since(t);
      restored.delete(drill);
      if (verified.facts.listings?.rows !== rows)
        throw new Error(
          `the drill saw ${verified.facts.listings?.rows} listings, ${rows} expected`,
        );

      const figures: BackupRun = {
        dumpMs,
        dumpBytes: backup.manifest.size_bytes,
        rawDumpMs,
        rawDumpBytes: rawBytes,
        restoreMs,
        rawRestoreMs,
        verifyMs,
      };
      results.push(figures);
      log(
        `run ${run}/${runs}: dump ${formatFixed(dumpMs / 1000, 1)} s (raw ${formatFixed(rawDumpMs / 1000, 1)} s), ` +
          `restore ${formatFixed(restoreMs / 1000, 1)} s (raw ${formatFixed(rawRestoreMs / 1000, 1)} s), ` +
          `drill ${formatFixed(verifyMs / 1000, 1)} s, ${formatInteger(figures.dumpBytes / 2 ** 20)} MiB`,
      );
      // Keep the disk flat over the runs: the next run writes its own files.
      await rm(backupDir, { recursive: true, force: true });
      await rm(rawPath, { force: true });
    }

    const report = summarizeBackups(results, rows);
    console.log(
      `\nBackup benchmark: ${formatInteger(rows)} listings, database ${formatInteger(databaseBytes / 2 ** 20)} MiB, ${runs} run(s), medians\n`,
    );
    console.log(report.table);
    const data = {
      benchmark: 'backup',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        postgres: versions?.postgres,
        postgis: versions?.postgis,
        loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
      },
      parameters: {
        rows,
        runs,
        databaseBytes,
        listingsBytes: Number(size?.listings),
        encryption: 'none',
      },
      runs: results,
      medians: report.medians,
    };
    const jsonOut = options.jsonOut;
    const path = await saveResults('backup', data, jsonOut);
    console.log(`\nresults: ${path}`);
  } catch (error) {
    // Whatever a stopped step threw (a killed pg_restore, a closed connection) is the Ctrl-C.
    if (signal.aborted) throw new Interrupted();
    throw error;
  } finally {
    await db?.close();
    await cleanUp();
  }
}

runMain(main, `npm run bench:backup -- [--rows N] [--runs K] [--json-out PATH]`);
