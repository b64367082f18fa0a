/**
 * API benchmark: the origin's hot endpoints over HTTP against the same SQL run straight on the
 * database (the limit), on this machine, in one run.
 *
 *   npm run bench:api -- [--rows 1000000] [--runs 3] [--duration 10] [--warmup 2]
 *                        [--load-generator node|autocannon] [--json-out <path>]
 *
 * It loads N synthetic listings with the real ETL into a scratch database, stores 24 ZIP-sized
 * areas, starts the real origin in a child process on 127.0.0.1, and per endpoint and run drives
 * it with 32 keep-alive connections from a load-generator process, then runs the handler's own
 * database function with the same parameters from 32 pooled connections in another process.
 * Medians, ratios, targets and the plans' indexes are printed and written to bench/results/.
 * Missed targets are reported, never fatal: the exit code is non-zero only when something broke
 * (a non-200 response, a query error). See docs/benchmarks.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { loadAreasFromGeoJSON } from '../../origin/areas/load.js';
import { type Database, openDatabase } from '../../origin/db/database.js';
import { migrate } from '../../origin/db/migrate.js';
import { runSource } from '../../origin/etl/run.js';
import { upsertSource } from '../../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from '../../scripts/lib/synthetic.js';
import { type Child, startChild } from '../lib/children.js';
import {
  benchAdminUrl,
  choices,
  runMain,
  saveResults,
  UsageError,
  wholeNumber,
} from '../lib/cli.js';
import type { LoopResult } from '../lib/closed-loop.js';
import { cpuMeter } from '../lib/cpu.js';
import { machineInfo } from '../lib/results.js';
import { createScratchDatabase } from '../lib/scratch-database.js';
import { median, since } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import { checkAgainstDirect, shapeOf } from './checks.js';
import type { DirectJob } from './direct.js';
import { explainCalls, type PlanFindings } from './explain.js';
import type { LoadJob, LoadResult } from './load.js';
import { type ApiRun, describeEndpointRun, summarize } from './report.js';
import {
  AREA_RADIUS_M,
  BBOX_DEGREES,
  buildWorkload,
  ENDPOINT_LABELS,
  ENDPOINTS,
  type Endpoint,
  NEAR_RADIUS_M,
  zipSizedAreas,
} from './workload.js';

type Options = {
  rows: number;
  runs: number;
  durationMs: number;
  warmupMs: number;
  connections: number;
  serverPool: number;
  requests: number;
  endpoints: Endpoint[];
  adminUrl: string;
  /** `node`: bench/api/load.ts. `autocannon`: bench/api/load-autocannon.ts (same job/reply). */
  loadGenerator: 'node' | 'autocannon';
  /** For bench/suite/main.ts: the results file at this path instead of bench/results/api-<time>.json. */
  jsonOut?: string;
};

const LOAD_GENERATORS = {
  node: 'bench/api/load.ts',
  autocannon: 'bench/api/load-autocannon.ts',
} as const;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      pool: { type: 'string' },
      requests: { type: 'string' },
      endpoints: { type: 'string' },
      'load-generator': { type: 'string' },
      'json-out': { type: 'string' },
    },
  });
  const endpoints = choices('--endpoints', values.endpoints, ENDPOINTS, ENDPOINTS);
  const loadGenerator = values['load-generator'] ?? 'node';
  if (loadGenerator !== 'node' && loadGenerator !== 'autocannon')
    throw new UsageError(`--load-generator: ${loadGenerator}; known: node, autocannon`);
  return {
    rows: wholeNumber('--rows', values.rows ?? process.env.BENCH_ROWS, 1_000_000),
    runs: wholeNumber('--runs', values.runs, 3),
    durationMs: wholeNumber('--duration', values.duration, 10) * 1000,
    warmupMs: wholeNumber('--warmup', values.warmup, 2, 0) * 1000,
    connections: wholeNumber('--connections', values.connections, 32),
    // The origin's own default (DATABASE_POOL_MAX in origin/env.ts).
    serverPool: wholeNumber('--pool', values.pool, 10),
    requests: wholeNumber('--requests', values.requests, 256),
    endpoints: endpoints as Endpoint[],
    adminUrl: benchAdminUrl(),
    loadGenerator,
    ...(values['json-out'] ? { jsonOut: values['json-out'] } : {}),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { rows, runs, durationMs, warmupMs, connections, endpoints } = options;
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const log = (message: string) => console.error(`[bench:api] ${message}`);

  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-api-'));
  const scratch = await createScratchDatabase(options.adminUrl, 'estate_bench_api');
  const children: Child[] = [];
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    await Promise.all(children.map((c) => c.stop()));
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
    db = await openDatabase({ url: scratch.url, dataDir: '', poolMax: 2 });
    log(`database ${scratch.name}, files in ${workDir}`);
    await migrate(db);

    // --- data: N synthetic listings through the real ETL, and ZIP-sized areas
    const feedPath = join(workDir, 'listings.csv');
    let t = performance.now();
    await writeSyntheticCsv(feedPath, rows);
    await upsertSource(db, syntheticSource(feedPath));
    const summary = await runSource(db, 'synthetic', { trigger: 'bench' });
    if (summary.status !== 'succeeded' || summary.rowsInserted !== rows)
      throw new Error(
        `the ETL load failed: ${summary.status}, ${summary.rowsInserted} of ${rows} inserted (${summary.error ?? 'no error'})`,
      );
    const areas = await loadAreasFromGeoJSON(db, zipSizedAreas(), { kind: 'bench-zip' });
    // Statistics for the planner on the final data, whatever the ETL's own ANALYZE did.
    await db.rows(sql`ANALYZE listings`);
    await db.rows(sql`ANALYZE areas`);
    log(
      `loaded ${formatInteger(rows)} listings and ${areas.ids.length} areas in ${formatFixed(since(t) / 1000, 1)} s (not timed)`,
    );

    const workload = buildWorkload({ size: options.requests, areaIds: areas.ids });
    t = performance.now();
    const shapes = await shapeOf(db, workload, endpoints);
    log(
      `ran every request once directly (shape, warm cache) in ${formatFixed(since(t) / 1000, 1)} s`,
    );

    // --- plans: is every query index-backed at this size?
    const plans = {} as Record<Endpoint, PlanFindings>;
    for (const e of endpoints)
      plans[e] = await explainCalls(
        db,
        workload[e].slice(0, 8).map((r) => r.call),
      );

    const [versions] = await db.rows<{ postgres: string; postgis: string }>(sql`
      SELECT current_setting('server_version') AS postgres, postgis_lib_version() AS postgis`);
    const settings = await db.rows<{ name: string; setting: string }>(sql`
      SELECT name, current_setting(name) AS setting FROM pg_settings
      WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost',
                     'max_connections', 'jit', 'max_parallel_workers_per_gather')`);

    // --- the processes: the origin, the load generator, the direct runner
    const server = startChild('origin', 'bench/lib/origin-server.ts', {
      DATABASE_URL: scratch.url,
      BENCH_POOL_MAX: String(options.serverPool),
      // Called directly, as the limit is: no edge in front to sign requests.
      EDGE_ASSERTION_SECRET: '',
    });
    children.push(server);
    const { port } = (await server.ready) as { port: number };
    for (const e of endpoints) await checkAgainstDirect(db, port, workload, e);
    log(`origin listening on 127.0.0.1:${port} (pool ${options.serverPool}); answers checked`);
    const load = startChild('load generator', LOAD_GENERATORS[options.loadGenerator]);
    const direct = startChild('direct runner', 'bench/api/direct.ts');
    children.push(load, direct);
    // A job's own bound plus room for starting up and winding down; then the child is killed.
    const jobTimeout = warmupMs + durationMs + 60_000;

    const httpJob = (paths: string[]): LoadJob => ({
      port,
      paths,
      connections,
      warmupMs,
      durationMs,
    });
    const results: ApiRun[] = [];
    // The HTTP stack's own ceiling on this machine: the liveness route touches no database.
    const floors: LoadResult[] = [];
    const loadDuring: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const floor = await load.ask<LoadResult>(httpJob(['/health']), jobTimeout);
      floors.push(floor);
      failures += floor.errors;
      log(
        `run ${run}/${runs}, GET /health (no database): p50 ${formatFixed(floor.p50Ms, 2)} ms, ${formatInteger(floor.perSecond)} req/s`,
      );
      const figures: ApiRun = {};
      for (const e of endpoints) {
        loadDuring.push(loadavg()[0] as number);
        const httpCpu = cpuMeter({ origin: server.process.pid, loadGenerator: load.process.pid });
        const http = await load.ask<LoadResult>(
          httpJob(workload[e].map((r) => r.path)),
          jobTimeout,
        );
        const httpCores = httpCpu();
        const directCpu = cpuMeter({ directRunner: direct.process.pid });
        const sqlSide = await direct.ask<LoopResult>(
          {
            url: scratch.url,
            calls: workload[e].map((r) => r.call),
            concurrency: connections,
            warmupMs,
            durationMs,
          } satisfies DirectJob,
          jobTimeout,
        );
        for (const [side, r] of [
          ['HTTP', http],
          ['direct', sqlSide],
        ] as const) {
          if (r.errors > 0) {
            failures += r.errors;
            log(`${ENDPOINT_LABELS[e]}, ${side}: ${r.errors} error(s), first: ${r.firstError}`);
          }
        }
        figures[e] = { http, direct: sqlSide, cpu: { http: httpCores, direct: directCpu() } };
        log(`run ${run}/${runs}, ${ENDPOINT_LABELS[e]}: ${describeEndpointRun(figures[e])}`);
      }
      results.push(figures);
    }
    const loadAtEnd = loadavg();

    // --- report
    const report = summarize(results, endpoints);
    console.log(
      `\nAPI benchmark: ${formatInteger(rows)} listings, ${connections} connections, ` +
        `${warmupMs / 1000} s warm-up + ${durationMs / 1000} s per endpoint and side, ` +
        `${runs} run(s), medians\n`,
    );
    console.log(report.table);
    console.log(`\n${report.targets}\n`);
    console.log(
      `HTTP floor, GET /health (no database): ${formatInteger(median(floors.map((f) => f.perSecond)))} req/s, p50 ${formatFixed(median(floors.map((f) => f.p50Ms)), 2)} ms\n`,
    );
    console.log(
      `Cores used while measuring (medians; ${machineInfo().cpuCount} on this machine):\n`,
    );
    console.log(`${report.cpu}\n`);
    console.log(
      markdownTable(
        ['endpoint', 'per request (median)', 'plan: indexes', 'seq scans', 'SQL alone'],
        endpoints.map((e) => {
          const s = shapes[e];
          const what =
            e === 'stats'
              ? `${formatInteger(s.medianItems)} listings`
              : e.startsWith('tile')
                ? `${formatInteger(s.medianItems)} features, ${formatInteger((s.medianBytes ?? 0) / 1024)} KiB`
                : `${formatInteger(s.medianItems)} items (${formatFixed(s.fullPages * 100, 0)}% full pages)`;
          return [
            ENDPOINT_LABELS[e],
            what,
            plans[e].indexes.join(', '),
            plans[e].seqScans.join(', ') || 'none',
            `${formatFixed(plans[e].executionMs, 2)} ms`,
          ];
        }),
      ),
    );
    const loadLine = `load average (1 min): ${formatFixed(loadAtStart[0] as number, 1)} before, ${formatFixed(Math.min(...loadDuring), 1)}–${formatFixed(Math.max(...loadDuring), 1)} during, on ${machineInfo().cpuCount} cores`;
    console.log(`\n${loadLine}`);
    const data = {
      benchmark: 'api',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        postgres: versions?.postgres,
        postgis: versions?.postgis,
        loadAverage: { atStart: loadAtStart, duringEachStep: loadDuring, atEnd: loadAtEnd },
      },
      postgresSettings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
      parameters: {
        rows,
        runs,
        durationMs,
        warmupMs,
        connections,
        serverPool: options.serverPool,
        directPool: connections,
        requestsPerEndpoint: options.requests,
        loadGenerator: options.loadGenerator,
        bboxDegrees: BBOX_DEGREES,
        nearRadiusM: NEAR_RADIUS_M,
        areaRadiusM: AREA_RADIUS_M,
        areas: areas.ids.length,
      },
      workload: Object.fromEntries(
        endpoints.map((e) => [
          e,
          { shape: shapes[e], examples: workload[e].slice(0, 3).map((r) => r.path) },
        ]),
      ),
      plans,
      runs: results,
      httpFloor: floors,
      medians: report.medians,
      targets: report.targetResults,
      errors: failures,
    };
    const jsonOut = options.jsonOut;
    const path = await saveResults('api', data, jsonOut);
    console.log(`results: ${path}`);
    if (failures > 0) {
      log(`${failures} request(s) failed: see above`);
      process.exitCode = 1;
    }
  } finally {
    await db?.close();
    await cleanUp();
  }
}

runMain(
  main,
  `npm run bench:api -- [--rows N] [--runs K] [--duration S] [--warmup S] [--connections C] [--pool P] [--requests R] [--endpoints ${ENDPOINTS.join(',')}] [--load-generator node|autocannon] [--json-out PATH]`,
);
