import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { clientIp } from '../../lib/config';
import { settingsOf } from '../../lib/settings';
import { type TraceVariables, traceOf } from '../../lib/trace';
import type { Principal } from '../auth/principal';
import { problemResponse } from '../problem';
import { type HeaderFigures, setRateLimitHeaders, tooMany } from './answer';
import { type RateLimitConfig, windowSeconds } from './config';
import { noopQuotaStore } from './noop';
import type { QuotaCheck, QuotaStore, QuotaVerdict } from './quota-store';
import { upstashQuotaStore } from './upstash';

/**
 * What this middleware reads from env. RATE_LIMITS (quotas per plan, global ceiling, burst
 * figures: ./config.ts) and RATE_LIMIT_FAIL_MODE (`open` or `closed`, exactly) are read through
 * settingsOf (lib/settings.ts), parsed once per isolate; the secrets directly.
 */
export type RateLimitBindings = {
  RATE_LIMITS: unknown;
  RATE_LIMIT_FAIL_MODE?: string;
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

/**
 * Isolate-wide counters, shown by GET /edge/health: how often quotas were skipped or hit (the
 * burst guard counts its own refusals: burst-guard/).
 */
export const rateLimitCounters = { failOpen: 0, failClosed: 0, limited: 0 };
let lastFailOpenLog = 0;

/**
 * Sliding-window quotas in Redis via @upstash/ratelimit: per principal and plan (an API key also
 * against its owner, so a user's keys share one quota), plus a global ceiling. Runs after
 * authentication (it needs the principal) and before the cache, so a cache hit is still counted;
 * the per-IP burst guard (burst-guard/) runs before authentication. Every answer that passed
 * carries `RateLimit-*` headers for its tightest quota; a 429 also carries `Retry-After` and
 * names the limit in its problem body.
 *
 * Not Hono's: Hono ships no rate limiter, and @upstash/ratelimit is the well-kept part; this
 * middleware only chooses the counters and writes the answer.
 *
 * @example
 *   app.use(rateLimit());
 */
export function rateLimit(options: RateLimitOptions = {}): MiddlewareHandler<RateLimitEnv> {
  const storeFor = options.store ?? defaultStore;
  return async function rateLimit(c, next) {
    const { RATE_LIMITS: config, RATE_LIMIT_FAIL_MODE: failMode } = settingsOf(c.env);
    const trace = traceOf(c);
    const ip = clientIp(c.req.raw.headers);

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
      trace.rateLimit = `limited${outcome.local ? '-local' : ''}:${refused.name}`;
      return tooMany(c, {
        detail: `${describe(refused)} is used up; it frees up in ${secondsUntil(refused.reset)} s.`,
        ...headerFigures(refused),
      });
    }

    trace.rateLimit = outcome.local ? 'allowed-local' : 'allowed';
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

/**
 * The principal's plan quotas (per IP when anonymous) and the global ceiling. An API key is
 * counted twice under its plan: as itself and as its owner (`user:1`), so ten keys of one user
 * are one quota, not ten (issue 13, finding 5). The owner's counter is the one their own tokens
 * use under that plan: same name, same identifier. A key's plan never exceeds its owner's
 * (origin/auth/api-keys.ts), so counting the owner under the key's plan is never more generous.
 */
export function quotaChecks(
  config: RateLimitConfig,
  principal: Principal,
  ip: string,
): QuotaCheck[] {
  const plan = principal.plan in config.plans ? principal.plan : config.default_plan;
  const quotas = config.plans[plan] ?? [];
  const counted = (identifier: string, extra: Partial<QuotaCheck> = {}): QuotaCheck[] =>
    quotas.map((quota) => ({ ...quota, name: `plan ${plan}`, identifier, ...extra }));
  const checks = counted(principal.type === 'anonymous' ? `ip:${ip}` : principal.id);
  if (principal.type === 'api_key' && principal.owner)
    checks.push(...counted(principal.owner, { sharedBy: 'owner' }));
  if (config.global) checks.push({ ...config.global, name: 'global', identifier: 'global' });
  return checks;
}

function describe(v: QuotaVerdict): string {
  const per = `${v.limit} requests per ${v.window}`;
  if (v.name === 'global') return `The service-wide ceiling of ${per}`;
  const plan = `The quota of the ${v.name.replace(/^plan /, '')} plan`;
  if (v.sharedBy === 'owner') return `${plan} (${per}), shared by every API key of its owner,`;
  return `${plan} (${per}${v.identifier.startsWith('ip:') ? ' per address' : ''})`;
}

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
