/**
 * The platform's benchmark suite: every part in one run, each in a child process of its own, each
 * figure beside a limit measured in the same run on the same machine, medians over repetitions.
 *
 *   npm run bench                       # everything at the default sizes (~30 min on 2 cores)
 *   npm run bench -- --quick            # everything, small, one repetition (~3 to 4 min)
 *   npm run bench -- --parts api,scaling --sizes 100k,1m,5m
 *   npm run bench -- --report bench/results/suite-<time>.json     # print a past run again
 *
 * Parts, in this order: `etl` (bench/etl/main.ts: fresh load and 10%-changed re-run vs raw COPY), `api`
 * (bench/api/main.ts, load from autocannon: the hot endpoints vs the same SQL run directly), `edge`
 * (bench/edge/main.ts: the Worker's cache HIT and MISS vs a bare Worker and the origin called directly),
 * `backup` (bench/backup/main.ts: dump, restore and the restore drill vs raw pg_dump / pg_restore) and
 * `scaling` (bench/scaling/main.ts: the API and ETL figures at several sizes, and whether every query
 * stays index-backed). It prints a headline table and a short table per part, and writes
 * everything (machine, server, git commit, each part's runs and medians, its full output) to
 * bench/results/suite-<time>.json. Figures are reported, never asserted: the exit code is non-zero
 * only when a part broke. See docs/benchmarks.md.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchAdminUrl,
  choices,
  runMain,
  saveResults,
  UsageError,
  wholeNumber,
} from '../lib/cli.js';
import { runPart, stopRunningPart } from '../lib/run-part.js';
import { formatFixed } from '../lib/table.js';
import { suiteEnvironment } from './machine.js';
import { DEFAULTS, PARTS, type Part, type Plan, partCommand, shownArgs } from './plan.js';
import { formatSize, parseSize } from './results.js';
import { type PartOutcome, renderSuite, type SuiteData, suiteFigures } from './summary.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function parseOptions(): Plan | { report: string } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      parts: { type: 'string' },
      rows: { type: 'string' },
      runs: { type: 'string' },
      sizes: { type: 'string' },
      'edge-rows': { type: 'string' },
      'json-out': { type: 'string' },
      report: { type: 'string' },
    },
  });
  if (values.report) return { report: values.report };
  const quick = values.quick ?? false;
  const d = quick ? DEFAULTS.quick : DEFAULTS.full;
  const size = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const rows = parseSize(text);
    if (!(rows >= 1)) throw new UsageError(`${name}: ${text} is not a number of rows (100k, 1m…)`);
    return rows;
  };
  const runs = wholeNumber('--runs', values.runs, d.runs);
  const sizes = values.sizes
    ? values.sizes.split(',').map((s) => size('--sizes', s, Number.NaN))
    : [...d.scaling.sizes];
  return {
    quick,
    parts: choices('--parts', values.parts, PARTS, PARTS),
    rows: size('--rows', values.rows, d.rows),
    runs,
    api: { ...d.api },
    edge: { ...d.edge, rows: size('--edge-rows', values['edge-rows'], d.edge.rows) },
    scaling: { ...d.scaling, sizes: [...new Set(sizes)].sort((a, b) => a - b) },
    adminUrl: benchAdminUrl(),
    ...(values['json-out'] ? { jsonOut: values['json-out'] } : {}),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  if ('report' in options) {
    const data = JSON.parse(await readFile(options.report, 'utf8')) as SuiteData;
    if (data.benchmark !== 'suite') throw new UsageError(`${options.report}: not a suite result`);
    console.log(renderSuite(data));
    return;
  }
  const plan = options;
  const startedAt = new Date();
  const t0 = performance.now();
  const log = (message: string) => console.error(`[bench] ${message}`);
  const environment = await suiteEnvironment(plan.adminUrl);
  const { machine, database, git } = environment;
  log(
    `${machine.cpuModel}, ${machine.cpuCount} cores; PostgreSQL ${database.postgres ?? '?'}, ` +
      `PostGIS ${database.postgis ?? '?'}; commit ${git.commit?.slice(0, 12) ?? '?'}` +
      `${git.dirty ? ' (uncommitted changes)' : ''}; load average ${formatFixed(machine.loadAverage[0] ?? Number.NaN, 1)}`,
  );
  log(
    `${plan.quick ? 'quick: ' : ''}${plan.parts.join(', ')}; ${formatSize(plan.rows)} listings, ${plan.runs} run(s)` +
      (plan.parts.includes('scaling')
        ? `; scaling at ${plan.scaling.sizes.map(formatSize).join(', ')}`
        : ''),
  );

  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-suite-'));
  let interrupted = false;
  const stop = () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: stopping the running part (it drops its scratch databases)');
    stopRunningPart();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const parts: Partial<Record<Part, PartOutcome>> = {};
  const reuse: string[] = [];
  try {
    for (const part of plan.parts) {
      const out = join(workDir, `${part}.json`);
      const { script, args, deadlineMs } = partCommand(part, plan, out, reuse);
      if (interrupted) {
        parts[part] = { status: 'skipped', reason: 'interrupted before it started', script, args };
        continue;
      }
      if (!existsSync(join(repoRoot, script))) {
        const reason = `${script} does not exist: part skipped`;
        log(reason);
        parts[part] = { status: 'skipped', reason, script, args };
        continue;
      }
      log(`--- ${part}: ${script} ${shownArgs(args)}`);
      const r = await runPart(script, args, deadlineMs);
      const outcome: PartOutcome = {
        status: r.code === 0 ? 'ok' : interrupted ? 'interrupted' : 'failed',
        script,
        args,
        exitCode: r.code,
        signal: r.signal,
        timedOut: r.timedOut,
        durationMs: r.durationMs,
        output: r.stdout,
      };
      // The edge benchmark names its own results file on stdout; the others write `out`.
      const resultsPath = part === 'edge' ? /^results: (.+)$/m.exec(r.stdout)?.[1]?.trim() : out;
      if (resultsPath && existsSync(resultsPath)) {
        try {
          outcome.results = JSON.parse(await readFile(resultsPath, 'utf8'));
          if (outcome.status === 'ok' && (part === 'etl' || part === 'api'))
            reuse.push(resultsPath);
        } catch (error) {
          outcome.status = 'failed';
          outcome.reason = `its results file ${resultsPath} is unreadable: ${error}`;
        }
      } else if (outcome.status === 'ok') {
        outcome.status = 'failed';
        outcome.reason = 'it exited 0 without a results file';
      }
      if (r.timedOut) outcome.reason ??= 'ran past its deadline';
      parts[part] = outcome;
      log(
        `--- ${part}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}, ${formatFixed(r.durationMs / 60_000, 1)} min`,
      );
    }

    let summary: Partial<ReturnType<typeof suiteFigures>> = {};
    try {
      summary = suiteFigures(parts);
    } catch (error) {
      // A part whose results changed shape: keep them verbatim rather than lose the run.
      log(`could not read the parts' figures: ${error instanceof Error ? error.stack : error}`);
    }
    const { figures, headline } = summary;
    const data: SuiteData = {
      benchmark: 'suite',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: performance.now() - t0,
      ...environment,
      plan,
      headline,
      figures,
      parts,
    };
    // Stored before it is printed: a report that failed to render can be printed again (--report).
    const jsonOut = plan.jsonOut;
    const path = await saveResults('suite', data, jsonOut);
    console.log(`\n${renderSuite(data)}`);
    console.log(`\nresults: ${path}`);
    if (interrupted) process.exitCode = 130;
    else if (plan.parts.some((p) => parts[p]?.status === 'failed')) process.exitCode = 1;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

runMain(
  main,
  `npm run bench -- [--quick] [--parts ${PARTS.join(',')}] [--rows N] [--runs K] [--sizes 100k,1m,5m] [--edge-rows N] [--json-out PATH] | --report <suite results.json>`,
);
