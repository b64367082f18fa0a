/**
 * The API benchmark's load generator as a real, widely used tool: autocannon, in a process of its
 * own, answering the same jobs as bench/api/load.ts (started by bench/api/main.ts with
 * `--load-generator autocannon`, which bench/suite/main.ts passes). Loopback only, bounded in time.
 *
 * - Every request, from whichever connection, takes the next of the job's paths (a shared
 *   counter in `setupRequest`), as bench/api/load.ts's closed loop does: 32 connections do not ask the
 *   same URL at the same moment, which would flatter PostgreSQL's caches.
 * - The warm-up is a run of its own before the measured one; only the measured run counts.
 * - Latencies come from autocannon's per-response event (hrtime, fractional milliseconds), not
 *   from its histogram, which keeps whole milliseconds: a bbox search at one connection answers
 *   in about one. Percentiles are nearest-rank, as in bench/lib/closed-loop.ts.
 * - Anything but a 200 is an error, as in bench/api/load.ts; bench/api/main.ts then exits non-zero.
 */

import { type AutocannonRequest, type AutocannonResult, autocannon } from '../lib/autocannon.js';
import { serveJobs } from '../lib/children.js';
import { quantile } from '../lib/closed-loop.js';
import type { LoadJob, LoadResult } from './load.js';

/** Loopback only: the benchmark must never send load anywhere else. */
const HOST = '127.0.0.1';

function run(
  job: LoadJob,
  seconds: number,
  next: { index: number },
  onResponse?: (status: number, bytes: number, ms: number) => void,
): Promise<AutocannonResult> {
  const pathAt = (i: number) => job.paths[i % job.paths.length] as string;
  // autocannon shares the request object (and so this closure) between its connections.
  const requests: AutocannonRequest[] = [
    {
      method: 'GET',
      path: pathAt(0),
      setupRequest: (r: AutocannonRequest) => ({ ...r, path: pathAt(next.index++) }),
    },
  ];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://${HOST}:${job.port}`,
        connections: job.connections,
        duration: seconds,
        requests,
        // Seconds; as bench/api/load.ts: a stuck request must not stall the run forever.
        timeout: 30,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    if (onResponse)
      instance.on('response', (_client, status, bytes, ms) => onResponse(status, bytes, ms));
  });
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const next = { index: 0 };
  let errors = 0;
  let firstError: string | null = null;
  const countErrors = (result: AutocannonResult) => {
    const non200 = Object.entries(result.statusCodeStats).filter(([status]) => status !== '200');
    errors += result.errors + non200.reduce((sum, [, s]) => sum + s.count, 0);
    if (firstError === null && non200.length > 0)
      firstError = `status ${non200.map(([status, s]) => `${status} × ${s.count}`).join(', ')}`;
    else if (firstError === null && result.errors > 0)
      firstError = `${result.errors} connection error(s), ${result.timeouts} timeout(s)`;
  };
  // autocannon's duration is whole seconds (it also takes strings such as '1.5s'; ours are whole).
  if (job.warmupMs > 0) countErrors(await run(job, Math.ceil(job.warmupMs / 1000), next));
  // Preallocated and grown by doubling, so collecting stays cheap inside the measured window.
  let latencies = new Float64Array(1 << 16);
  let completed = 0;
  let bytes = 0;
  let sum = 0;
  const result = await run(job, Math.ceil(job.durationMs / 1000), next, (status, size, ms) => {
    if (status !== 200) return;
    if (completed === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[completed++] = ms;
    bytes += size;
    sum += ms;
  });
  countErrors(result);
  const sorted = latencies.subarray(0, completed).sort();
  return {
    completed,
    errors,
    firstError,
    // autocannon's own wall time of the measured run (it stops at `duration`, give or take a tick).
    perSecond: completed / (result.duration || job.durationMs / 1000),
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: completed > 0 ? (sorted[completed - 1] as number) : Number.NaN,
    meanMs: completed > 0 ? sum / completed : Number.NaN,
    // autocannon's byte count is the whole response (headers too); bench/api/load.ts counts the body.
    bytesPerRequest: completed > 0 ? bytes / completed : 0,
  };
}

serveJobs(runLoad);
