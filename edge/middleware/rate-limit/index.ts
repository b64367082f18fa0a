import type { Context, MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { clientIp, configVar } from '../../lib/config';
import { type TraceVariables, traceOf } from '../../lib/trace';
import type { Principal } from '../auth/principal';
import { ProblemType, problemResponse } from '../problem';
import { type RateLimitConfig, rateLimitConfigSchema, windowSeconds } from './config';
import { noopQuotaStore } from './noop';
import type { QuotaCheck, QuotaStore, QuotaVerdict } from './quota-store';
import { upstashQuotaStore } from './upstash';

export type RateLimitBindings = {
  /** JSON (a TOML table): quotas per plan, global ceiling, burst figures. See ./config.ts. */
  RATE_LIMITS: unknown;
  /** `open` (default): serve when quotas cannot be checked. `closed`: answer 503. */
  RATE_LIMIT_FAIL_MODE?: string;
  /** The Workers rate-limit binding (`[[ratelimits]]` in wrangler.toml): per-IP burst guard. */
  BURST_LIMITER?: RateLimit;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
};

type RateLimitEnv = {
  Bindings: RateLimitBindings;
  Variables: RequestIdVariables & TraceVariables & { principal: Principal };
};

export type RateLimitOptions = {
  /** Builds the quota store for a request's env; tests pass their own. */
  store?: (env: RateLimitBindings, config: RateLimitConfig) => QuotaStore;
};

/** Isolate-wide counters, shown by GET /edge/health: how often quotas were skipped. */
export const rateLimitCounters = { failOpen: 0, failClosed: 0, limited: 0, burst: 0 };
let lastFailOpenLog = 0;

/**
 * Two layers, in this order: a per-IP burst guard on the Workers rate-limit binding (local to
 * each Cloudflare location, no external store, so it still holds when Redis is down), then
 * sliding-window quotas per principal and plan plus a global ceiling in Redis via
 * @upstash/ratelimit. Runs after authentication (it needs the principal) and before the cache,
 * so a cache hit is still counted. Every answer that passed carries `RateLimit-*` headers for
 * its tightest quota; a 429 also carries `Retry-After` and names the limit in its problem body.
 *
 * Not Hono's: Hono ships no rate limiter, and the binding plus @upstash/ratelimit are the
 * well-kept parts; this middleware only chooses the counters and writes the answer.
 *
 * @example
 *   app.use(rateLimit());
 */
export function rateLimit(options: RateLimitOptions = {}): MiddlewareHandler<RateLimitEnv> {
  const storeFor = options.store ?? defaultStore;
  return async function rateLimit(c, next) {
    const config = configVar('RATE_LIMITS', c.env.RATE_LIMITS, rateLimitConfigSchema);
    const failMode = c.env.RATE_LIMIT_FAIL_MODE === 'closed' ? 'closed' : 'open';
    const trace = traceOf(c);
    const ip = clientIp(c.req.raw.headers);

    if (c.env.BURST_LIMITER) {
      const { success } = await c.env.BURST_LIMITER.limit({ key: `ip:${ip}` });
      if (!success) {
        rateLimitCounters.burst += 1;
        trace.rateLimit = 'burst';
        const { limit, period } = config.burst;
        return tooMany(c, {
          detail: `Too many requests from your address in a short time (the burst guard allows ${limit} per ${period} s). Slow down.`,
          limit,
          remaining: 0,
          resetSeconds: period,
          policy: `${limit};w=${period}`,
        });
      }
    }

    const principal = c.get('principal');
    // Methods the proxy refuses (501) never passed authentication: nothing to count.
    if (!principal) return next();
    const checks = quotaChecks(config, principal, ip);
    const outcome = await storeFor(c.env, config).limit(checks);
    c.executionCtx.waitUntil(outcome.pending);

    if (outcome.status === 'unavailable') {
      if (failMode === 'closed') {
        rateLimitCounters.failClosed += 1;
        trace.rateLimit = 'refused';
        return problemResponse(c, {
          status: 503,
          detail:
            'Usage quotas cannot be checked right now, and this deployment refuses requests it cannot count. Try again shortly.',
          headers: { 'Retry-After': '5' },
        });
      }
      rateLimitCounters.failOpen += 1;
      trace.rateLimit = outcome.reason === 'no quota store configured' ? 'off' : 'bypassed';
      // At most one line per 10 s per isolate: an outage must be visible, not flood the logs.
      if (trace.rateLimit === 'bypassed' && Date.now() - lastFailOpenLog > 10_000) {
        lastFailOpenLog = Date.now();
        console.warn(
          JSON.stringify({
            level: 'warn',
            msg: 'quotas are off: the quota store is unavailable (RATE_LIMIT_FAIL_MODE=open)',
            reason: outcome.reason,
            fail_open_total: rateLimitCounters.failOpen,
          }),
        );
      }
      await next();
      return;
    }

    const refused = outcome.verdicts.find((v) => !v.success);
    if (refused) {
      rateLimitCounters.limited += 1;
      trace.rateLimit = `limited:${refused.name}`;
      return tooMany(c, {
        detail: `${describe(refused)} is used up; it frees up in ${secondsUntil(refused.reset)} s.`,
        ...headerFigures(refused),
      });
    }

    trace.rateLimit = 'allowed';
    await next();
    // The tightest quota is the one a client should pace itself by.
    const tightest = outcome.verdicts.reduce((a, b) =>
      b.remaining / b.limit < a.remaining / a.limit ? b : a,
    );
    setRateLimitHeaders(c.res.headers, headerFigures(tightest));
  };
}

function defaultStore(env: RateLimitBindings, config: RateLimitConfig): QuotaStore {
  if (!env.UPSTASH_REDIS_REST_URL || !env.UPSTASH_REDIS_REST_TOKEN) return noopQuotaStore;
  return upstashQuotaStore({
    url: env.UPSTASH_REDIS_REST_URL,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    prefix: config.prefix,
    timeoutMs: config.timeout_ms,
    access: env,
  });
}

/** The principal's plan quotas (per IP when anonymous) and the global ceiling. */
export function quotaChecks(
  config: RateLimitConfig,
  principal: Principal,
  ip: string,
): QuotaCheck[] {
  const plan = principal.plan in config.plans ? principal.plan : config.default_plan;
  const identifier = principal.type === 'anonymous' ? `ip:${ip}` : principal.id;
  const checks: QuotaCheck[] = (config.plans[plan] ?? []).map((quota) => ({
    ...quota,
    name: `plan ${plan}`,
    identifier,
  }));
  if (config.global) checks.push({ ...config.global, name: 'global', identifier: 'global' });
  return checks;
}

function describe(v: QuotaVerdict): string {
  const per = `${v.limit} requests per ${v.window}`;
  return v.name === 'global'
    ? `The service-wide ceiling of ${per}`
    : `The quota of the ${v.name.replace(/^plan /, '')} plan (${per}${v.identifier.startsWith('ip:') ? ' per address' : ''})`;
}

type HeaderFigures = { limit: number; remaining: number; resetSeconds: number; policy: string };

function headerFigures(v: QuotaVerdict): HeaderFigures {
  return {
    limit: v.limit,
    remaining: Math.max(0, v.remaining),
    resetSeconds: secondsUntil(v.reset),
    policy: `${v.limit};w=${Math.max(1, Math.round(windowSeconds(v.window)))}`,
  };
}

function secondsUntil(epochMs: number): number {
  return Math.max(1, Math.ceil((epochMs - Date.now()) / 1000));
}

/** draft-ietf-httpapi-ratelimit-headers (-07): RateLimit-Limit/Remaining/Reset and -Policy. */
function setRateLimitHeaders(headers: Headers, f: HeaderFigures): void {
  headers.set('RateLimit-Limit', String(f.limit));
  headers.set('RateLimit-Remaining', String(f.remaining));
  headers.set('RateLimit-Reset', String(f.resetSeconds));
  headers.set('RateLimit-Policy', f.policy);
}

function tooMany(c: Context<RateLimitEnv>, f: HeaderFigures & { detail: string }): Response {
  const headers = new Headers({ 'Retry-After': String(f.resetSeconds) });
  setRateLimitHeaders(headers, f);
  return problemResponse(c, {
    status: 429,
    type: ProblemType.rateLimited,
    detail: f.detail,
    headers,
  });
}
