/**
 * Edge benchmark: the real Worker (edge/index.ts as deployed) answering a cache HIT and forwarding
 * a MISS to the real origin, against a bare Hono Worker on the same runtime (the limit) and the
 * origin called directly, on this machine, in one run.
 *
 *   npm run bench:edge -- [--runs 3] [--duration 10] [--latency-duration 4] [--warmup 1]
 *                         [--connections 32] [--rows 100000] [--scenarios a,b] [--diagnose]
 *                         [--profile]
 *
 * Every Worker is a `workerd` process on its own socket of 127.0.0.1 (never `wrangler dev`, whose
 * Node proxy caps near 2,000 req/s here); the origin runs in child processes on a scratch
 * PostGIS database loaded through the real ETL; quotas go through the Upstash REST adapter to a
 * private redis-server. Per scenario and run, autocannon in a process of its own loads it with
 * `--connections` keep-alive connections (throughput), then with one (latency). Medians, the
 * issue's ratios and targets, the cores each process used, what each part of the gateway costs
 * (--diagnose) and where the Worker's JavaScript time goes (--profile) are printed and written to
 * bench/results/. Missed targets are reported, never fatal: the exit code is non-zero only when
 * something broke (a non-2xx answer, an access-log line that is not the scenario's outcome).
 * See docs/benchmarks.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Database, openDatabase } from '../../origin/db/database.js';
import { benchAdminUrl, choices, runMain, wholeNumber } from '../lib/cli.js';
import { machineInfo, writeResults } from '../lib/results.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import { median, since } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import {
  buildBenchWorker,
  buildRealWorker,
  buildRealWorkerWithoutKeepNames,
  readWranglerConfig,
  sourceState,
} from './build.js';
import { profileDuring, type WorkerProfile } from './profile.js';
import { describeMeasurement, type EdgeRun, type Level, summarize } from './report.js';
import {
  DIAGNOSIS_SCENARIOS,
  isDirect,
  MAIN_SCENARIOS,
  SCENARIO_NAMES,
  SCENARIOS,
  type ScenarioName,
  WORKERS,
  type WorkerName,
} from './scenarios.js';
import { loadListings, warmCache } from './setup.js';
import { type Stage, startStage } from './stage.js';

type Options = {
  rows: number;
  runs: number;
  durationSeconds: number;
  latencyDurationSeconds: number;
  warmupSeconds: number;
  connections: number;
  requests: number;
  scenarios: ScenarioName[];
  profile: boolean;
  adminUrl: string;
};

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      'latency-duration': { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      requests: { type: 'string' },
      scenarios: { type: 'string' },
      diagnose: { type: 'boolean' },
      profile: { type: 'boolean' },
    },
  });
  const scenarios = choices('--scenarios', values.scenarios, SCENARIO_NAMES, [
    ...MAIN_SCENARIOS,
    ...(values.diagnose ? DIAGNOSIS_SCENARIOS : []),
  ]);
  return {
    rows: wholeNumber('--rows', values.rows ?? process.env.BENCH_ROWS, 100_000),
    runs: wholeNumber('--runs', values.runs, 3),
    durationSeconds: wholeNumber('--duration', values.duration, 10),
    latencyDurationSeconds: wholeNumber('--latency-duration', values['latency-duration'], 4),
    warmupSeconds: wholeNumber('--warmup', values.warmup, 1, 0),
    connections: wholeNumber('--connections', values.connections, 32),
    requests: wholeNumber('--requests', values.requests, 256),
    scenarios,
    profile: values.profile ?? false,
    adminUrl: benchAdminUrl(),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { runs, connections, scenarios } = options;
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const log = (message: string) => console.error(`[bench:edge] ${message}`);
  const targets = scenarios.flatMap((s) => {
    const target = SCENARIOS[s].target;
    return isDirect(target) ? [] : [target];
  });
  const workerNames = [...new Set(targets)];

  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-edge-'));
  const scratch = await createScratchDatabase(options.adminUrl, 'estate_bench_edge');
  let stage: Stage | undefined;
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    await stage?.stop();
    await scratch.drop().catch((e) => log(`could not drop ${scratch.name}: ${e}`));
    await rm(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    log('interrupted: stopping the children and dropping the scratch database');
    void cleanUp().finally(() => process.exit(130));
  });

  let db: Database | undefined;
  let failures = 0;
  try {
    // --- bundles and data, side by side (neither is timed)
    db = await openDatabase({ url: scratch.url, dataDir: '', poolMax: 2 });
    const toml = readWranglerConfig();
    const source = sourceState();
    const t = performance.now();
    const [{ paths, pool }, real, lean, bare, cache] = await Promise.all([
      loadListings(db, workDir, options.rows, options.requests),
      buildRealWorker(join(workDir, 'real')),
      // Only for its two diagnosis variants: a build costs seconds.
      workerNames.some((w) => WORKERS[w].bundle === 'real-no-keep-names')
        ? buildRealWorkerWithoutKeepNames(join(workDir, 'lean'), toml.compatibilityDate)
        : Promise.resolve(undefined),
      buildBenchWorker(join(workDir, 'bare'), 'bare-worker', toml.compatibilityDate),
      buildBenchWorker(join(workDir, 'cache'), 'cache-worker', toml.compatibilityDate),
    ]);
    await db.close();
    db = undefined;
    // Unused when no scenario needs the variant build (the real one stands in, never started).
    const bundles = { real, 'real-no-keep-names': lean ?? real, bare };
    log(
      `database ${scratch.name}: ${formatInteger(options.rows)} listings; Workers built with wrangler; ${formatFixed(since(t) / 1000, 1)} s (not timed)`,
    );
    stage = await startStage({
      databaseUrl: scratch.url,
      toml,
      bundles: { ...bundles, cache },
      workerNames,
      paths,
      pool,
      farNeeded: scenarios.some((s) => {
        const target = SCENARIOS[s].target;
        return target === 'direct-far' || (!isDirect(target) && WORKERS[target].far === true);
      }),
      distinctWorkers: new Set(
        scenarios.flatMap((s) => (SCENARIOS[s].distinct ? [SCENARIOS[s].target] : [])),
      ) as Set<WorkerName>,
      log,
    });

    // --- measuring: per run, every scenario at many connections, then at one
    const results: EdgeRun[] = [];
    const loadDuring: number[] = [];
    const levels: [Level, number, number][] = [
      ['throughput', connections, options.durationSeconds],
      ['latency', 1, options.latencyDurationSeconds],
    ];
    for (let run = 1; run <= runs; run++) {
      const figures: EdgeRun = {};
      for (const s of scenarios) {
        figures[s] = {};
        for (const [level, conns, seconds] of levels) {
          loadDuring.push(loadavg()[0] as number);
          const m = await stage.measure(s, conns, {
            warmupSeconds: options.warmupSeconds,
            durationSeconds: seconds,
          });
          figures[s][level] = m;
          if (m.load.errors > 0 || m.unexpected > 0) {
            failures += m.load.errors + m.unexpected;
            log(
              `${SCENARIOS[s].label}: statuses ${JSON.stringify(m.load.statuses)}, access log ${JSON.stringify(m.logCounts ?? {})}`,
            );
          }
          log(
            `run ${run}/${runs}, ${SCENARIOS[s].label}, ${conns} conn.: ${describeMeasurement(m)}`,
          );
        }
      }
      results.push(figures);
    }
    const loadAtEnd = loadavg();

    // --- where the Worker's JavaScript time goes (--profile): a copy with the inspector open
    const profiles: Partial<Record<ScenarioName, WorkerProfile>> = {};
    if (options.profile)
      for (const s of scenarios.filter((x) => !isDirect(SCENARIOS[x].target))) {
        const target = SCENARIOS[s].target as WorkerName;
        if (WORKERS[target].runtime !== 'workerd') continue;
        const name = `${target}-profiled`;
        const worker = await stage.startWorker(target, name, { inspector: true });
        if (WORKERS[target].cache === 'long' && !SCENARIOS[s].distinct)
          await warmCache(worker.url, paths, stage.expected);
        await stage.clearLog(name);
        const { result, profile } = await profileDuring(
          worker.inspectorPort as number,
          bundles[WORKERS[target].bundle],
          () =>
            (stage as Stage).measure(
              s,
              connections,
              { warmupSeconds: 0, durationSeconds: Math.min(5, options.durationSeconds) },
              { ...worker, name },
            ),
        );
        await stage.stopWorker(name);
        profiles[s] = profile;
        log(`profiled ${SCENARIOS[s].label}: ${describeMeasurement(result)} (inspector open)`);
      }

    // --- report
    const report = summarize(results, scenarios, connections);
    const machine = machineInfo();
    console.log(
      `\nEdge benchmark: ${connections} connections for ${options.durationSeconds} s, then 1 for ` +
        `${options.latencyDurationSeconds} s, after ${options.warmupSeconds} s of warm-up each; ` +
        `${runs} run(s), medians; GET /v1/listings/{id} over ${paths.length} listings\n`,
    );
    if (report.table) console.log(`${report.table}\n`);
    if (report.targetResults.length > 0) console.log(`${report.targets}\n`);
    if (report.diagnosisTable) console.log(`${report.diagnosisTable}\n`);
    if (report.comparisons.length > 0) console.log(`${report.comparisonTable}\n`);
    console.log(
      `Cores used at ${connections} connections (medians; ${machine.cpuCount} on this machine):\n`,
    );
    console.log(`${report.cpuTable}\n`);
    for (const [s, profile] of Object.entries(profiles))
      console.log(`${profileTable(SCENARIOS[s as ScenarioName].label, profile)}\n`);
    const loadLine = `load average (1 min): ${formatFixed(loadAtStart[0] as number, 1)} before, ${formatFixed(Math.min(...loadDuring), 1)}–${formatFixed(Math.max(...loadDuring), 1)} during (median ${formatFixed(median(loadDuring), 1)}), on ${machine.cpuCount} cores`;
    console.log(loadLine);
    const path = await writeResults('edge', {
      benchmark: 'edge',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: {
        ...machine,
        loadAverage: { atStart: loadAtStart, duringEachStep: loadDuring, atEnd: loadAtEnd },
      },
      source,
      parameters: {
        rows: options.rows,
        runs,
        connections,
        durationSeconds: options.durationSeconds,
        latencyDurationSeconds: options.latencyDurationSeconds,
        warmupSeconds: options.warmupSeconds,
        listings: paths.length,
        bodyBytes: Buffer.byteLength(stage.body),
        scenarios,
        workers: Object.fromEntries(workerNames.map((w) => [w, WORKERS[w]])),
        examplePaths: paths.slice(0, 3),
      },
      runs: results,
      medians: report.medians,
      figures: report.figures,
      comparisons: report.comparisons,
      targets: report.targetResults,
      profiles,
      errors: failures,
    });
    console.log(`results: ${path}`);
    if (failures > 0) {
      log(`${failures} request(s) failed or had another outcome than expected: see above`);
      process.exitCode = 1;
    }
  } finally {
    await db?.close();
    await cleanUp();
  }
}

/** The modules and functions that took the most of a profiled Worker's JavaScript time. */
function profileTable(label: string, profile: WorkerProfile): string {
  const top = (rows: WorkerProfile['byModule']) =>
    rows.slice(0, 12).map((r) => [r.where, formatFixed(r.share * 100, 1)]);
  return [
    `Profile, ${label} (${formatFixed(profile.busyMs, 0)} ms of busy isolate time sampled):\n`,
    markdownTable(['module', '% of busy'], top(profile.byModule), [1]),
    '',
    markdownTable(['function [module]', '% of busy'], top(profile.byFunction), [1]),
  ].join('\n');
}

runMain(
  main,
  `npm run bench:edge -- [--runs K] [--duration S] [--latency-duration S] [--warmup S] [--connections C] [--rows N] [--requests R] [--scenarios ${SCENARIO_NAMES.join(',')}] [--diagnose] [--profile]`,
);
