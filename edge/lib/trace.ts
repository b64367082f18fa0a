import type { Context } from 'hono';

/**
 * What each middleware found out about one request, gathered for the access log's single line
 * (middleware/access-log). Written by the middleware that knows, read once at the end.
 */
export type Trace = {
  /** HIT, MISS, STALE, BYPASS (edge-cache). */
  cache?: string;
  /** allowed, limited:<which>, burst, bypassed (fail-open), refused (fail-closed), off. */
  rateLimit?: string;
  /** The origin's status, or 0 when it could not be reached; unset when it was not called. */
  originStatus?: number;
  /** Time to the origin's response headers, all attempts included. */
  originMs?: number;
  originAttempts?: number;
  /** closed, open, half-open: the circuit breaker's state after this request. */
  breaker?: string;
};

export type TraceVariables = { trace: Trace };

/** This request's trace, created on first use. */
export function traceOf(c: Context): Trace {
  let trace = c.get('trace') as Trace | undefined;
  if (!trace) {
    trace = {};
    c.set('trace', trace);
  }
  return trace;
}
