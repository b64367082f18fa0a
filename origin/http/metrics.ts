import type { MiddlewareHandler } from 'hono';

/** Placeholder: Prometheus metrics land with the API issue. */
export function requestMetrics(): MiddlewareHandler {
  return async function requestMetricsMiddleware(_c, next) {
    await next();
  };
}
