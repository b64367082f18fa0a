import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { clientIp } from '../../lib/config';
import { settingsOf } from '../../lib/settings';
import { type TraceVariables, traceOf } from '../../lib/trace';
import { tooMany } from '../rate-limit/answer';

export type BurstGuardBindings = {
  /** The Workers rate-limit binding (`[[ratelimits]]` in wrangler.toml), keyed by client IP. */
  BURST_LIMITER?: RateLimit;
};

type BurstGuardEnv = {
  Bindings: BurstGuardBindings;
  Variables: RequestIdVariables & TraceVariables;
};

/** Isolate-wide, shown by GET /edge/health as `isolate.rate_limits.burst`. */
export const burstGuardCounters = { refused: 0 };

/**
 * A per-IP burst guard on the Workers rate-limit binding: local to each Cloudflare location, no
 * external store (it holds when Redis is down), and no credential needed. It runs **before
 * authentication** on purpose: a caller trying random `ee_live_…` keys or tokens pays here,
 * before each guess costs an origin lookup (issue 13, finding 6). The figures in the 429 come
 * from RATE_LIMITS.burst, which repeats the binding's `simple` block (the binding hides them).
 * Without the binding (a test app) it lets everything through.
 *
 * @example
 *   app.use(burstGuard());
 *   app.use(authenticate());
 */
export function burstGuard(): MiddlewareHandler<BurstGuardEnv> {
  return async function burstGuard(c, next) {
    const limiter = c.env.BURST_LIMITER;
    if (!limiter) return next();
    const { success } = await limiter.limit({ key: `ip:${clientIp(c.req.raw.headers)}` });
    if (success) return next();
    burstGuardCounters.refused += 1;
    traceOf(c).rateLimit = 'burst';
    const { limit, period } = settingsOf(c.env).RATE_LIMITS.burst;
    return tooMany(c, {
      detail: `Too many requests from your address in a short time (the burst guard allows ${limit} per ${period} s). Slow down.`,
      limit,
      remaining: 0,
      resetSeconds: period,
      policy: `${limit};w=${period}`,
    });
  };
}
