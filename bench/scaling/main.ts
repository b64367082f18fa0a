/**
 * Scaling benchmark: the API and ETL benchmarks at several table sizes, so the growth of cost with
 * data size is visible, and whether every query stays index-backed as the table grows.
 *
 *   npm run bench:scaling -- [--sizes 100k,1m,5m] [--parts api,etl] [--runs 1] [--etl-runs 1]
 *                            [--duration 5] [--warmup 1] [--reuse <api or etl results.json>]…
 *                            [--json-out <path>]
 *
 * Per size, smallest first: bench/etl/main.ts (fresh load, 10%-changed re-run, raw COPY) and
 * bench/api/main.ts (every endpoint over HTTP with autocannon, and the same SQL directly; plans by
 * EXPLAIN ANALYZE), each in a child process of its own on a scratch database of its own. A size
 * already measured in the same run by the suite's ETL or API part is taken from its results file
 * (`--reuse`) instead of being measured again. Figures are reported, never asserted: the exit code
 * is non-zero only when a child broke. See docs/benchmarks.md.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { choices, runMain, saveResults, UsageError, wholeNumber } from '../lib/cli.js';
import { machineInfo } from '../lib/results.js';
import { runPart, stopRunningPart } from '../lib/run-part.js';
import { formatFixed } from '../lib/table.js';
import type { ApiResults, EtlResults, ScalingPoint, ScalingResults } from '../suite/results.js';
import { formatSize, parseSize } from '../suite/results.js';
import { scalingTables } from './tables.js';

const PARTS = ['api', 'etl'] as const;
type Part = (typeof PARTS)[number];

export type ScalingOptions = {
  sizes: number[];
  parts: Part[];
  apiRuns: number;
  etlRuns: number;
  durationSeconds: number;
  warmupSeconds: number;
  loadGenerator: string;
  reuse: string[];
  jsonOut?: string;
};

function parseOptions(): ScalingOptions {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      parts: { type: 'string' },
      runs: { type: 'string' },
      'etl-runs': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'load-generator': { type: 'string' },
      reuse: { type: 'string', multiple: true },
      'json-out': { type: 'string' },
    },
  });
  const sizes = (values.sizes ?? '100k,1m').split(',').map((s) => {
    const rows = parseSize(s);
    if (!(rows >= 1)) throw new UsageError(`--sizes: ${s} is not a number of rows (100k, 1m, 5m…)`);
    return rows;
  });
  const parts = choices('--parts', values.parts, PARTS, PARTS);
  return {
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    parts,
    apiRuns: wholeNumber('--runs', values.runs, 1),
    etlRuns: wholeNumber('--etl-runs', values['etl-runs'], 1),
    durationSeconds: wholeNumber('--duration', values.duration, 5),
    warmupSeconds: wholeNumber('--warmup', values.warmup, 1, 0),
    loadGenerator: values['load-generator'] ?? 'autocannon',
    reuse: values.reuse ?? [],
    ...(values['json-out'] ? { jsonOut: values['json-out'] } : {}),
  };
}

/** A generous bound per child: the load (ETL at ~30k rows/s here) plus the measuring, ×3. */
function deadlineMs(part: Part, rows: number, o: ScalingOptions): number {
  const loadMs = (rows / 10_000) * 1000;
  const measureMs =
    part === 'api'
      ? o.apiRuns * 6 * 2 * (o.durationSeconds + o.warmupSeconds) * 1000
      : o.etlRuns * 6 * loadMs;
  return 5 * 60_000 + loadMs + measureMs;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const startedAt = new Date();
  const log = (message: string) => console.error(`[bench:scaling] ${message}`);
  const workDir = await mkdtemp(join(tmpdir(), 'estate-bench-scaling-'));
  const stop = () => {
    log('interrupted: stopping the running benchmark');
    stopRunningPart();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const points = new Map<number, ScalingPoint>(options.sizes.map((rows) => [rows, { rows }]));
  for (const path of options.reuse) {
    const results = JSON.parse(await readFile(path, 'utf8')) as ApiResults | EtlResults;
    const point = points.get(results.parameters.rows);
    if (!point) continue;
    if (results.benchmark === 'api' && options.parts.includes('api')) {
      point.api = results;
      point.reused = { ...point.reused, api: path };
    } else if (results.benchmark === 'etl' && options.parts.includes('etl')) {
      point.etl = results;
      point.reused = { ...point.reused, etl: path };
    }
  }

  const failures: string[] = [];
  try {
    for (const rows of options.sizes) {
      const point = points.get(rows) as ScalingPoint;
      for (const part of options.parts) {
        if (point[part]) {
          log(`${part} at ${formatSize(rows)}: taken from ${point.reused?.[part]}`);
          continue;
        }
        const out = join(workDir, `${part}-${rows}.json`);
        const args =
          part === 'etl'
            ? ['--rows', String(rows), '--runs', String(options.etlRuns), '--json-out', out]
            : [
                ...['--rows', String(rows), '--runs', String(options.apiRuns)],
                ...['--duration', String(options.durationSeconds)],
                ...['--warmup', String(options.warmupSeconds)],
                ...['--load-generator', options.loadGenerator, '--json-out', out],
              ];
        log(`${part} at ${formatSize(rows)} listings`);
        const result = await runPart(
          `bench/${part}/main.ts`,
          args,
          deadlineMs(part, rows, options),
        );
        log(
          `${part} at ${formatSize(rows)}: exit ${result.signal ?? result.code}${result.timedOut ? ' (ran past its deadline)' : ''} after ${formatFixed(result.durationMs / 1000, 0)} s`,
        );
        if (result.code !== 0) {
          failures.push(`${part} at ${formatSize(rows)}`);
          if (result.signal === 'SIGINT' || result.code === 130) throw new Error('interrupted');
          continue;
        }
        const parsed = JSON.parse(await readFile(out, 'utf8'));
        if (part === 'api') point.api = parsed as ApiResults;
        else point.etl = parsed as EtlResults;
      }
    }
  } catch (error) {
    if (!(error instanceof Error && error.message === 'interrupted')) throw error;
    log('interrupted: reporting what was measured');
    process.exitCode = 130;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }

  const all = [...points.values()];
  const tables = scalingTables(all);
  console.log(
    `\nScaling: ${options.sizes.map(formatSize).join(', ')} listings; API ${options.apiRuns} run(s) of ${options.durationSeconds} s per endpoint and side (a reused size keeps its own), ETL ${options.etlRuns} run(s)\n`,
  );
  if (options.parts.includes('api')) {
    console.log(
      'SQL alone: one call executed on the server (EXPLAIN ANALYZE), nothing else running; HTTP p50 and req/s at the API benchmark’s concurrency\n',
    );
    console.log(`${tables.growth}\n`);
    console.log(`${tables.detail}\n`);
  }
  if (options.parts.includes('etl')) console.log(`${tables.etl}\n`);
  if (tables.notIndexBacked.length > 0)
    console.log(`not index-backed: ${tables.notIndexBacked.join('; ')}\n`);
  const data: ScalingResults & Record<string, unknown> = {
    benchmark: 'scaling',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    parameters: {
      sizes: options.sizes,
      apiRuns: options.apiRuns,
      etlRuns: options.etlRuns,
      durationMs: options.durationSeconds * 1000,
    },
    points: all,
    notIndexBacked: tables.notIndexBacked,
    failures,
  };
  const jsonOut = options.jsonOut;
  const path = await saveResults('scaling', data, jsonOut);
  console.log(`results: ${path}`);
  if (failures.length > 0) {
    log(`failed: ${failures.join(', ')}`);
    process.exitCode ||= 1;
  }
}

runMain(
  main,
  `npm run bench:scaling -- [--sizes 100k,1m,5m] [--parts api,etl] [--runs K] [--etl-runs K] [--duration S] [--warmup S] [--reuse results.json]… [--json-out PATH]`,
);
