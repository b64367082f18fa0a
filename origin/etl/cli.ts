/**
 * The data engineer's ETL command.
 *
 *   npm run etl -- <source>                      run a declared source
 *   npm run etl -- <source> --file <path|url>    run that source's mapping over another file
 *   npm run etl -- --file <path> --mapping <source>   the same, spelled the other way
 *   npm run etl -- --declare <sources.json>      add or replace sources from a file
 *   npm run etl -- --list                        the sources and their last run
 *
 * Exit code: 0 when the run succeeded (even with rejected rows), 1 when it failed, 2 on usage.
 */
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { declareShippedSources, openFromEnv } from '../bootstrap.js';
import { parseEnv } from '../env.js';
import { createLogger } from '../logger.js';
import { runSource } from './run.js';
import { loadSourcesFile } from './sources.js';

const usage =
  'usage: npm run etl -- <source> [--file <path|url>] | --file <path> --mapping <source> | --declare <file> | --list';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      mapping: { type: 'string' },
      declare: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const env = parseEnv();
  // The CLI talks to people on stdout/stderr; library logs stay quiet unless asked for.
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const db = await openFromEnv(env, logger);
  try {
    await declareShippedSources(db);
    if (values.declare) {
      const names = await loadSourcesFile(db, values.declare);
      console.log(`declared ${names.length} source(s): ${names.join(', ')}`);
      return 0;
    }
    if (values.list) {
      const rows = await db.rows<Record<string, unknown>>(sql`
        SELECT s.name, s.format, s.location, s.schedule, r.status AS last_status, r.finished_at AS last_finished
        FROM etl_sources s LEFT JOIN LATERAL (
          SELECT status, finished_at FROM etl_runs WHERE source_id = s.id ORDER BY id DESC LIMIT 1) r ON true
        ORDER BY s.name`);
      console.table(rows);
      return 0;
    }
    const source = positionals[0] ?? values.mapping;
    if (!source || (positionals[0] && values.mapping && positionals[0] !== values.mapping)) {
      console.error(usage);
      return 2;
    }
    const started = performance.now();
    const summary = await runSource(db, source, {
      trigger: 'cli',
      ...(values.file ? { location: values.file } : {}),
      onProgress: (p) => {
        const rate = Math.round(p.rowsRead / (p.elapsedMs / 1000));
        process.stderr.write(
          `  read ${p.rowsRead.toLocaleString('en')} rows, ${p.rowsRejected.toLocaleString('en')} rejected (${rate.toLocaleString('en')} rows/s)\n`,
        );
      },
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      [
        `run #${summary.runId} of ${summary.source}: ${summary.status} in ${seconds.toFixed(1)} s`,
        `  read       ${summary.rowsRead.toLocaleString('en')}`,
        `  inserted   ${summary.rowsInserted.toLocaleString('en')}`,
        `  updated    ${summary.rowsUpdated.toLocaleString('en')}`,
        `  unchanged  ${summary.rowsUnchanged.toLocaleString('en')}`,
        `  rejected   ${summary.rowsRejected.toLocaleString('en')}${summary.rowsRejected > 0 ? ` (see etl_rejects where run_id = ${summary.runId})` : ''}`,
        ...(summary.error ? [`  error      ${summary.error}`] : []),
      ].join('\n'),
    );
    return summary.status === 'succeeded' ? 0 : 1;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error & { code?: string }) => {
    console.error(`etl: ${error.message}`);
    process.exitCode = error.code === 'SOURCE_NOT_FOUND' || error.code === 'ENV_INVALID' ? 2 : 1;
  },
);
