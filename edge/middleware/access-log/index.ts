import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { setMetric } from 'hono/timing';
import { type TraceVariables, traceOf } from '../../lib/trace';
import type { Principal } from '../auth/principal';

type AccessLogEnv = {
  Variables: RequestIdVariables & TraceVariables & { principal?: Principal };
};

/**
 * A bounded route label: ids and tile coordinates become placeholders, so a dashboard can group
 * by it without one series per listing.
 */
export function routeLabel(path: string): string {
  return path
    .slice(0, 200)
    .replace(/^\/v1\/tiles\/([\w-]+)\/\d+\/\d+\/\d+(\.\w+)?$/, '/v1/tiles/$1/:z/:x/:y$2')
    .replace(/\/\d+(?=\/|$)/g, '/:id')
    .replace(/\/[0-9a-f]{8}-[0-9a-f-]{27,}(?=\/|$)/gi, '/:uuid');
}

/**
 * One JSON line per request, written when the answer is ready: request id, method, route label,
 * status, duration, then what the other middleware recorded in the trace (cache result,
 * rate-limit result, principal kind, origin status, time and attempts, breaker state). Also puts
 * the origin's time in Server-Timing (`hono/timing` writes the header). No credential, token,
 * key, query string or client address is logged.
 *
 * Not Hono's `logger`: it prints a human line (method, path, status, time), not a structured one,
 * and knows nothing of the trace.
 *
 * @example
 *   app.use(timing(), accessLog());
 */
export function accessLog(): MiddlewareHandler<AccessLogEnv> {
  return async function accessLog(c, next) {
    const started = performance.now();
    const trace = traceOf(c);
    try {
      await next();
    } finally {
      if (trace.originMs !== undefined) setMetric(c, 'origin', trace.originMs, 'origin fetch');
      console.log(
        JSON.stringify({
          level: 'info',
          msg: 'request',
          request_id: c.get('requestId'),
          method: c.req.method,
          route: routeLabel(c.req.path),
          status: c.res.status,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
          cache: trace.cache ?? null,
          rate_limit: trace.rateLimit ?? null,
          principal: c.get('principal')?.type ?? null,
          origin_status: trace.originStatus ?? null,
          origin_ms: trace.originMs ?? null,
          origin_attempts: trace.originAttempts ?? null,
          breaker: trace.breaker ?? null,
        }),
      );
    }
  };
}
