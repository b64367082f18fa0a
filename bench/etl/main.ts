/**
 * ETL benchmark: the streaming ETL against raw COPY, on this machine, in one run.
 *
 *   npm run bench:etl -- [--rows 1000000] [--runs 3] [--json-out <path>]
 *
 * Per repetition: a fresh load of N synthetic listings, a re-run of the same feed with 10% of
 * rows changed, raw COPY of the same rows into `listings` (with its indexes, and with the
 * indexes rebuilt after), and raw COPY into an unlogged, index-free copy of the table (the
 * machine's ceiling). Medians and targets are printed and written to bench/results/. Missed
 * targets are reported, never fatal: the exit code is non-zero only when something broke.
 * See docs/benchmarks.md.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { openDatabase } from '../../origin/db/database.js';
import { migrate } from '../../origin/db/migrate.js';
import { upsertSource } from '../../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from '../../scripts/lib/synthetic.js';
import { benchAdminUrl, runMain, saveResults, wholeNumber } from '../lib/cli.js';
import { machineInfo } from '../lib/results.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import { rowsPerSecond, since } from '../lib/stats.js';
import { formatFixed, formatInteger } from '../lib/table.js';
import { ogr2ogrVersion, timeOgr2ogr } from './ogr2ogr.js';
import { copyFileInto, LISTING_COPY_COLUMNS, writeListingsCopyText } from './raw-copy.js';
import { describeRun, type EtlFigures, type RunFigures, summarize } from './report.js';
import type { EtlChildResult } from './run.js';

const CHANGED_FRACTION = 0.1;
const CEILING_TABLE = 'bench_listings_unlogged';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const etlRunScript = fileURLToPath(new URL('./run.ts', import.meta.url));

function parseOptions(): { rows: number; runs: number; adminUrl: string; jsonOut?: string } {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      runs: { type: 'string' },
      // For bench/suite/main.ts: the results file at this path instead of bench/results/etl-<time>.json.
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

/** Run the ETL in a child process (bench/etl/run.ts) so its peak RSS is its own. */
async function runEtlChild(url: string, rows: number, args: string[]): Promise<EtlFigures> {
  const child = spawn(process.execPath, ['--import', 'tsx', etlRunScript, 'synthetic', ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const last = out.trim().split('\n').at(-1);
  if (code !== 0 || !last) throw new Error(`the ETL child process exited with ${code}`);
  const result = JSON.parse(last) as EtlChildResult;
  if (result.summary.status !== 'succeeded')
    throw new Error(`the ETL run failed: ${result.summary.error ?? 'no error recorded'}`);
  return {
    ...result,
    rowsPerSecond: rowsPerSecond(rows, result.wallMs),
    peakRssMiB: result.maxRssKiB / 1024,
  };
}

function expectCounts(what: string, got: EtlChildResult['summary'], want: Record<string, number>) {
  const wrong = Object.entries(want).filter(([k, v]) => got[k as keyof typeof got] !== v);
  if (wrong.length > 0)
    throw new Error(
      `${what}: wrong counts: ${wrong.map(([k, v]) => `${k} ${got[k as keyof typeof got]}, expected ${v}`).join('; ')}`,
    );
}

async function main(): Promise<void> {
  const { rows, runs, adminUrl, jsonOut } = parseOptions();
  const startedAt = new Date();
  const log = (message: string) => console.error(`[bench:etl] ${message}`);
  // scripts/lib/synthetic.ts edits every round(1/changed)-th row (i = 0, 10, 20, …): this many.
  const expectedChanged = Math.ceil(rows / Math.round(1 / CHANGED_FRACTION));

  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-'));
  const scratch = await createScratchDatabase(adminUrl, 'estate_bench');
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    await scratch.drop().catch((e) => log(`could not drop ${scratch.name}: ${e}`));
    await rm(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    log('interrupted: dropping the scratch database');
    void cleanUp().finally(() => process.exit(130));
  });
  // One connection for the benchmark's own statements: session settings stick to it.
  const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
  const db = await openDatabase({ url: scratch.url, dataDir: '' }).catch(async (error) => {
    await cleanUp();
    throw error;
  });
  try {
    log(`database ${scratch.name}, files in ${workDir}`);
    await migrate(db);
    const feedPath = join(workDir, 'listings.csv');
    const changedPath = join(workDir, 'listings-changed.csv');
    const copyPath = join(workDir, 'listings.copy');
    const source = await upsertSource(db, syntheticSource(feedPath));

    const t = performance.now();
    await writeSyntheticCsv(feedPath, rows, 0);
    await writeSyntheticCsv(changedPath, rows, CHANGED_FRACTION);
    await writeListingsCopyText(feedPath, copyPath, source.id);
    const feedBytes = (await stat(feedPath)).size;
    log(
      `generated ${formatInteger(rows)} rows (${formatInteger(feedBytes / 2 ** 20)} MiB of CSV) in ${formatFixed(since(t) / 1000, 1)} s (not timed)`,
    );

    // The ceiling: no WAL, no indexes. INCLUDING IDENTITY as well as DEFAULTS: LIKE always
    // copies NOT NULL, so without it `id` would be NOT NULL with nothing to fill it.
    await sql.unsafe(
      `CREATE UNLOGGED TABLE ${CEILING_TABLE} (LIKE listings INCLUDING DEFAULTS INCLUDING IDENTITY)`,
    );
    const secondaryIndexes = await sql<{ name: string; definition: string }[]>`
      SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = 'listings'::regclass AND NOT x.indisprimary AND NOT x.indisunique`;
    const [versions] = await sql<{ postgres: string; postgis: string }[]>`
      SELECT current_setting('server_version') AS postgres, postgis_lib_version() AS postgis`;
    // The server settings that move these figures most (WAL volume, checkpoints, index builds).
    const settings = await sql<{ name: string; setting: string }[]>`
      SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ('shared_buffers',
        'wal_level', 'max_wal_size', 'synchronous_commit', 'maintenance_work_mem', 'work_mem', 'fsync')`;
    // Each timed step starts with a checkpoint, so it does not pay for the previous step's WAL.
    const reset = async (...tables: string[]) => {
      await sql.unsafe(`TRUNCATE ${tables.join(', ')} CASCADE`);
      await sql`CHECKPOINT`;
    };
    const timeCopy = async (table: string) => {
      const start = performance.now();
      await copyFileInto(sql, table, LISTING_COPY_COLUMNS, copyPath);
      return since(start);
    };

    const ogrVersion = ogr2ogrVersion();
    log(ogrVersion ? `peer: ${ogrVersion}` : 'peer: ogr2ogr not installed, its rows are left out');
    const results: RunFigures[] = [];
    for (let run = 1; run <= runs; run++) {
      log(`run ${run}/${runs}: fresh load`);
      await reset('listings', 'listing_history');
      const fresh = await runEtlChild(scratch.url, rows, []);
      expectCounts('fresh load', fresh.summary, {
        rowsRead: rows,
        rowsInserted: rows,
        rowsRejected: 0,
      });
      log(`run ${run}/${runs}: re-run with ${CHANGED_FRACTION * 100}% changed`);
      await sql`CHECKPOINT`;
      const rerun = await runEtlChild(scratch.url, rows, ['--location', changedPath]);
      expectCounts('re-run', rerun.summary, {
        rowsRead: rows,
        rowsInserted: 0,
        rowsUpdated: expectedChanged,
        rowsUnchanged: rows - expectedChanged,
        rowsRejected: 0,
      });
      log(`run ${run}/${runs}: raw COPY`);
      await reset('listings', 'listing_history');
      const copyIndexedMs = await timeCopy('listings');
      // What the ETL does for a load into an empty table (origin/etl/bulk.ts): COPY without the
      // secondary indexes, then build them (with the same maintenance_work_mem). The limit for
      // that strategy, for a fair reading of the ratio above.
      await reset('listings', 'listing_history');
      const start = performance.now();
      for (const index of secondaryIndexes) await sql.unsafe(`DROP INDEX "${index.name}"`);
      await copyFileInto(sql, 'listings', LISTING_COPY_COLUMNS, copyPath);
      await sql`SET maintenance_work_mem = '256MB'`;
      for (const index of secondaryIndexes) await sql.unsafe(index.definition);
      await sql`RESET maintenance_work_mem`;
      const copyThenIndexMs = since(start);
      await reset(CEILING_TABLE);
      const copyUnloggedMs = await timeCopy(CEILING_TABLE);
      await sql.unsafe(`TRUNCATE ${CEILING_TABLE}`);
      // The peer, on the same CSV, when installed (scripts/setup-test-env.sh installs it).
      let ogr2ogrMs: number | undefined;
      if (ogrVersion) {
        log(`run ${run}/${runs}: ogr2ogr`);
        ogr2ogrMs = await timeOgr2ogr(scratch.url, feedPath, sql, rows);
      }
      const figures = {
        fresh,
        rerun,
        copyIndexedMs,
        copyThenIndexMs,
        copyUnloggedMs,
        ...(ogr2ogrMs === undefined ? {} : { ogr2ogrMs }),
      };
      results.push(figures);
      log(`run ${run}/${runs}: ${describeRun(figures, rows)}`);
    }

    const report = summarize(results, rows);
    console.log(`\nETL benchmark: ${formatInteger(rows)} rows, ${runs} run(s), medians\n`);
    console.log(report.table);
    console.log(`\n${report.phases}\n`);
    console.log(report.targets);
    const data = {
      benchmark: 'etl',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        postgres: versions?.postgres,
        postgis: versions?.postgis,
        gdal: ogrVersion ?? null,
      },
      postgresSettings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
      parameters: { rows, runs, changedFraction: CHANGED_FRACTION, expectedChanged, feedBytes },
      runs: results,
      medians: report.medians,
      targets: report.targetResults,
    };
    const path = await saveResults('etl', data, jsonOut);
    console.log(`\nresults: ${path}`);
  } finally {
    await sql.end({ timeout: 5 });
    await db.close();
    await cleanUp();
  }
}

runMain(main, `npm run bench:etl -- [--rows N] [--runs K] [--json-out PATH]`);
