/**
 * The one measuring loop of the API benchmark, used for both sides (HTTP through the origin and
 * the same SQL straight on the database), so the two are timed by the same code.
 *
 * Closed loop: `concurrency` workers each issue a call, wait for it, and issue the next, as wrk
 * and autocannon do. A call that completes during the warm-up is not counted; after the warm-up,
 * every call completing within `durationMs` counts for throughput and for the latency
 * percentiles. No new call starts after the end; the few still in flight then finish uncounted.
 */

export type LoopOptions = {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
};

export type LoopResult = {
  /** Calls completed in the measured window (errors excluded). */
  completed: number;
  /** Calls that failed at any time, warm-up included: any one makes the benchmark exit non-zero. */
  errors: number;
  firstError: string | null;
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
};

/** The value at quantile `q` of ascending `sorted` (nearest rank, as HdrHistogram reports). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1] as number;
}

/**
 * Run `call(i)` for i = 0, 1, 2, … from `concurrency` workers at once for warm-up + duration.
 * A call fails by throwing (a non-2xx response, a query error); it is counted, never retried.
 *
 * @example
 * const result = await closedLoop({ concurrency: 32, warmupMs: 2000, durationMs: 10000 },
 *   (i) => fetchOk(urls[i % urls.length]));
 */
export async function closedLoop(
  options: LoopOptions,
  call: (index: number) => Promise<void>,
): Promise<LoopResult> {
  const started = performance.now();
  const measureFrom = started + options.warmupMs;
  const measureTo = measureFrom + options.durationMs;
  // Preallocated and grown by doubling: a push per call would be fine too, but this keeps the
  // collector's work out of the measured window on long runs.
  let latencies = new Float64Array(1 << 16);
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;

  const worker = async () => {
    while (performance.now() < measureTo) {
      const index = next++;
      const t0 = performance.now();
      try {
        await call(index);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        continue;
      }
      const t1 = performance.now();
      if (t1 < measureFrom || t1 > measureTo) continue;
      if (completed === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[completed++] = t1 - t0;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));

  const sorted = latencies.subarray(0, completed).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    completed,
    errors,
    firstError,
    perSecond: completed / (options.durationMs / 1000),
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: completed > 0 ? (sorted[completed - 1] as number) : Number.NaN,
    meanMs: completed > 0 ? sum / completed : Number.NaN,
  };
}
