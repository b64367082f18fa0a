/**
 * The load generator of the edge benchmark, in a process of its own (started by bench/edge/main.ts,
 * which sends it jobs over IPC): autocannon, `connections` keep-alive connections to a server on
 * 127.0.0.1, each sending the job's paths in turn, for a warm-up and then the measured time.
 *
 * Latencies are taken from autocannon's per-response event (hrtime, fractional milliseconds)
 * rather than from its histogram, which records whole milliseconds: a HIT answers in well under
 * one, and "p50 0 ms" says nothing. Percentiles are nearest-rank, as in bench/api/main.ts.
 */

import { type AutocannonRequest, type AutocannonResult, autocannon } from '../lib/autocannon.js';
import { serveJobs } from '../lib/children.js';
import { quantile } from '../lib/closed-loop.js';

export type EdgeLoadJob = {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  paths: string[];
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /**
   * Every request, from whichever connection, takes the next of `paths`, so no URL is asked twice
   * while they last (a cache MISS each). Otherwise each connection goes through `paths` in turn.
   */
  distinct?: boolean;
  headers?: Record<string, string>;
};

export type EdgeLoadResult = {
  completed: number;
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Connection errors and timeouts, then answers other than 2xx, by status. */
  errors: number;
  statuses: Record<string, number>;
  bytesPerResponse: number;
  /** Requests sent, warm-up included: with `distinct`, how many of `paths` were used. */
  sent: number;
};

/** Loopback only: the benchmark must never send load anywhere else. */
function checkLoopback(baseUrl: string): void {
  const host = new URL(baseUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost')
    throw new Error(`refusing to load ${host}: loopback only`);
}

function run(
  job: EdgeLoadJob,
  seconds: number,
  next: { index: number },
  onResponse?: (status: number, bytes: number, ms: number) => void,
): Promise<AutocannonResult> {
  // autocannon shares the request objects (and so this closure) between its connections.
  const requests: AutocannonRequest[] = job.distinct
    ? [
        {
          method: 'GET',
          path: job.paths[0] as string,
          setupRequest: (r: AutocannonRequest) => ({
            ...r,
            path: job.paths[next.index++ % job.paths.length] as string,
          }),
        },
      ]
    : job.paths.map((path) => ({ method: 'GET', path }));
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.baseUrl,
        connections: job.connections,
        duration: seconds,
        requests,
        ...(job.headers ? { headers: job.headers } : {}),
        timeout: 30,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    if (onResponse)
      instance.on('response', (_client, status, bytes, ms) => onResponse(status, bytes, ms));
  });
}

async function runLoad(job: EdgeLoadJob): Promise<EdgeLoadResult> {
  checkLoopback(job.baseUrl);
  const next = { index: 0 };
  if (job.warmupSeconds > 0) await run(job, job.warmupSeconds, next);
  // Preallocated and grown by doubling, so collecting stays cheap inside the measured window.
  let latencies = new Float64Array(1 << 16);
  let completed = 0;
  let bytes = 0;
  let sum = 0;
  const result = await run(job, job.durationSeconds, next, (status, size, ms) => {
    if (status < 200 || status > 299) return;
    if (completed === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[completed++] = ms;
    bytes += size;
    sum += ms;
  });
  const sorted = latencies.subarray(0, completed).sort();
  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([status, s]) => [status, s.count]),
  );
  const non2xx = Object.entries(statuses)
    .filter(([status]) => !status.startsWith('2'))
    .reduce((total, [, count]) => total + count, 0);
  return {
    completed,
    // autocannon's own wall time of the measured run (it stops at `duration`, give or take a tick).
    perSecond: completed / (result.duration || job.durationSeconds),
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: completed > 0 ? (sorted[completed - 1] as number) : Number.NaN,
    meanMs: completed > 0 ? sum / completed : Number.NaN,
    errors: result.errors + non2xx,
    statuses,
    bytesPerResponse: completed > 0 ? bytes / completed : 0,
    sent: next.index,
  };
}

serveJobs(runLoad);
