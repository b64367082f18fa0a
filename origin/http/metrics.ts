import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RunSummary } from '../etl/run.js';

/**
 * The origin's Prometheus metrics, in a registry of their own (not prom-client's global one): two
 * apps in one process (tests, a future admin listener) must not add into each other's series.
 *
 * @example
 *   const metrics = createMetrics();
 *   const deps = { db, logger, metrics };   // requestMetrics() and GET /metrics find it there
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request (until the response is built), by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      // Searches aim at single-digit milliseconds, tiles at tens: the low buckets carry the SLOs.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    httpInFlight: new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being answered now',
      registers: [registry],
    }),
    etlRuns: new Counter({
      name: 'etl_runs_total',
      help: 'ETL runs this process saw finish, by source and outcome',
      labelNames: ['source', 'status'] as const,
      registers: [registry],
    }),
    etlRows: new Counter({
      name: 'etl_rows_total',
      help: 'Rows handled by ETL runs this process saw finish, by source and outcome (inserted, updated, unchanged, rejected)',
      labelNames: ['source', 'outcome'] as const,
      registers: [registry],
    }),
    etlRunDuration: new Histogram({
      name: 'etl_run_duration_seconds',
      help: 'Wall time of ETL runs this process saw finish, by source',
      labelNames: ['source'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    // Read from the database at scrape time (routes/metrics/collect.ts), so they hold for runs
    // started by any process: the CLI, the scheduler, another origin.
    etlLastSuccess: new Gauge({
      name: 'etl_last_success_timestamp_seconds',
      help: 'When the last successful run of each source finished (Unix time); alert on time() minus this',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    dbUp: new Gauge({
      name: 'db_up',
      help: '1 when the database answered the scrape-time ping, else 0',
      registers: [registry],
    }),
    dbPingSeconds: new Gauge({
      name: 'db_ping_seconds',
      help: 'Round trip of SELECT 1 at scrape time',
      registers: [registry],
    }),
    // The postgres driver keeps its pool private (no open/idle counts in its API), so the pool is
    // observed from the server's side: our sessions in pg_stat_activity, by state.
    dbConnections: new Gauge({
      name: 'db_connections',
      help: "Sessions of the origin's application_name on this database, every origin process included, by state",
      labelNames: ['state'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Per-app metrics for deps that do not carry their own yet, keyed by the app's deps object. */
const fallbackMetrics = new WeakMap<object, Metrics>();

/**
 * The app's metrics: `deps.metrics` when the app was built with one, else one created for this
 * deps object (one per app) on first use.
 */
export function metricsFor(deps: object & { metrics?: Metrics | undefined }): Metrics {
  if (deps.metrics) return deps.metrics;
  let metrics = fallbackMetrics.get(deps);
  if (!metrics) {
    metrics = createMetrics();
    fallbackMetrics.set(deps, metrics);
  }
  return metrics;
}

/** Methods are labels; anything else a client sends is one bucket, not a new series each. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Counts every request and times it, labelled by the route *pattern* that answered
 * (`/v1/listings/:id`), never the raw path: a scan of a million URLs must not make a million
 * series. Requests no route matched carry the pattern of the last middleware, a single series.
 * Mount it after the deps middleware (it finds the registry there) and before the routes.
 *
 * @example
 *   app.use(requestMetrics());
 */
export function requestMetrics(): MiddlewareHandler {
  return async function requestMetricsMiddleware(c, next) {
    const deps = c.get('deps') as object | undefined;
    if (!deps) return next(); // mounted before the deps middleware: nothing to count into
    const metrics = metricsFor(deps);
    const started = performance.now();
    metrics.httpInFlight.inc();
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
      // After next(), the route index points at the handler that answered (or, for a 404, the
      // last middleware that ran). Errors were already turned into responses by onError.
      const labels = {
        method: KNOWN_METHODS.has(c.req.method) ? c.req.method : 'OTHER',
        route: routePath(c) || 'unmatched',
        status: String(c.res.status),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}

/** Count a finished run (whoever started it in this process: the API, the scheduler). */
export function recordEtlRun(metrics: Metrics, summary: RunSummary): void {
  const source = summary.source;
  metrics.etlRuns.inc({ source, status: summary.status });
  metrics.etlRows.inc({ source, outcome: 'inserted' }, summary.rowsInserted);
  metrics.etlRows.inc({ source, outcome: 'updated' }, summary.rowsUpdated);
  metrics.etlRows.inc({ source, outcome: 'unchanged' }, summary.rowsUnchanged);
  metrics.etlRows.inc({ source, outcome: 'rejected' }, summary.rowsRejected);
  if (summary.timings.total !== undefined) {
    metrics.etlRunDuration.observe({ source }, summary.timings.total / 1000);
  }
}
