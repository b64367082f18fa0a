import * as z from 'zod/mini';
import { cacheRulesSchema } from '../middleware/edge-cache/config';
import { originPolicySchema } from '../middleware/origin-proxy/policy';
import { rateLimitConfigSchema } from '../middleware/rate-limit/config';
import { corsOriginsSchema } from '../middleware/security-headers/cors';
import { alertRoutesSchema, cronJobsSchema, monitoringSchema } from '../scheduled/config';
import { ConfigError } from './config';

/**
 * Whatever the var holds, absent included: the transform after it decides. zod treats a key whose
 * schema is a bare `unknown()` as required, so an unset var would fail with "expected
 * nonoptional" instead of reaching the fallback below.
 */
const present = () => z.optional(z.unknown());

/**
 * A var that is either a TOML table or array in wrangler.toml (it reaches the Worker as that
 * object) or the same as JSON text (`wrangler dev --var NAME:<json>`).
 */
function structured<S extends z.ZodMiniType>(schema: S) {
  return z.pipe(
    z.pipe(
      present(),
      z.transform((raw, ctx) => {
        if (typeof raw !== 'string') return raw;
        try {
          return JSON.parse(raw) as unknown;
        } catch {
          ctx.issues.push({ code: 'custom', message: 'is not JSON', input: raw });
          return z.NEVER;
        }
      }),
    ),
    schema,
  );
}

/**
 * `"true"` or `"false"`, exactly (or a TOML boolean). `"False"`, `"no"` or `"0"` is an error, never
 * read as the permissive default: a security switch must not flip on a typo.
 */
function flag(fallback: boolean) {
  return z.pipe(
    present(),
    z.transform((raw, ctx): boolean => {
      if (raw === undefined) return fallback;
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      ctx.issues.push({
        code: 'custom',
        message: 'must be "true" or "false", exactly (lower case)',
        input: raw,
      });
      return z.NEVER;
    }),
  );
}

/** One of `values`, exactly: `Closed` is not `closed`. */
function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return z._default(
    z.enum(values, {
      error: `must be ${values.map((v) => `"${v}"`).join(' or ')}, exactly (lower case)`,
    }),
    fallback,
  );
}

/** Whole seconds as text (`"15"`) or a TOML integer, within bounds; `fallback` when unset. */
function seconds(fallback: number, min: number, max: number) {
  return z.pipe(
    present(),
    z.transform((raw, ctx): number => {
      if (raw === undefined) return fallback;
      const value =
        typeof raw === 'number' ? raw : /^\d{1,7}$/.test(String(raw)) ? Number(raw) : NaN;
      if (Number.isInteger(value) && value >= min && value <= max) return value;
      ctx.issues.push({
        code: 'custom',
        message: `must be a whole number of seconds from ${min} to ${max}`,
        input: raw,
      });
      return z.NEVER;
    }),
  );
}

/**
 * Every var of wrangler.toml's `[vars]` (docs/edge-gateway.md), in one schema: the Worker parses
 * its env with it once per isolate (settingsOf), and `npm run build:edge` runs every
 * environment's vars through it (scripts/check-worker-config.ts), so a typo fails the build
 * before it can fail open in production. Keys are the var names, so a problem names its var.
 * Secrets are not here: they are not in wrangler.toml, and edge/env.ts documents them.
 */
export const settingsSchema = z.object({
  ENVIRONMENT: z.string().check(z.minLength(1)),
  ORIGIN_URL: z.url({ protocol: /^https?$/ }),
  AUTH_ISSUER: z.string().check(z.minLength(1)),
  AUTH_AUDIENCE: z.string().check(z.minLength(1)),
  /** `false`: callers without credentials get 401 (except open routes). */
  ANONYMOUS_ACCESS: flag(true),
  /** Seconds an API-key lookup is cached: how long a revoked key may still work. */
  API_KEY_CACHE_TTL: seconds(60, 0, 3600),
  /** `open`: serve when quotas cannot be checked; `closed`: answer 503. */
  RATE_LIMIT_FAIL_MODE: oneOf(['open', 'closed'], 'open'),
  /** Seconds an isolate trusts the data version it knows. */
  DATA_VERSION_TTL: seconds(15, 1, 300),
  /**
   * `required`: the origin sits behind Cloudflare Access (tunnel/README.md), so
   * CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET must be set, and /edge/health answers 503
   * without them (edge/lib/secrets.ts); `optional`: sent when both are set.
   */
  CF_ACCESS_SERVICE_TOKEN: oneOf(['required', 'optional'], 'optional'),
  RATE_LIMITS: structured(rateLimitConfigSchema),
  CACHE_RULES: structured(cacheRulesSchema),
  CORS_ORIGINS: structured(corsOriginsSchema),
  // Absent, the ones below mean "every default", as they did when each was read on its own.
  ORIGIN_POLICY: structured(z.prefault(originPolicySchema, {})),
  CRON_JOBS: structured(z.prefault(cronJobsSchema, {})),
  ALERT_ROUTES: structured(z.prefault(alertRoutesSchema, {})),
  MONITORING: structured(z.prefault(monitoringSchema, {})),
});
export type Settings = z.output<typeof settingsSchema>;

/** One var that does not hold what its schema says, and why (never its value). */
export type SettingProblem = { variable: string; problem: string };

export type SettingsCheck =
  | { ok: true; settings: Settings }
  | { ok: false; problems: SettingProblem[] };

/**
 * The vars checked against `settingsSchema`: the parsed settings, or every bad var with its first
 * problem. Pure: no memo, no log (the build check and tests call it with plain objects).
 *
 * @example
 *   const check = parseSettings(unstable_readConfig({ env: 'production' }).vars);
 */
export function parseSettings(vars: object): SettingsCheck {
  const result = settingsSchema.safeParse(vars);
  if (result.success) return { ok: true, settings: result.data };
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const [variable, ...path] = issue.path.map(String);
    const name = variable ?? '(vars)';
    if (problems.has(name)) continue;
    problems.set(name, path.length > 0 ? `${path.join('.')}: ${issue.message}` : issue.message);
  }
  return {
    ok: false,
    problems: [...problems].map(([variable, problem]) => ({ variable, problem })),
  };
}

/** `RATE_LIMIT_FAIL_MODE must be "open" or "closed", …; ANONYMOUS_ACCESS …` */
export function describeProblems(problems: readonly SettingProblem[]): string {
  return problems.map((p) => `${p.variable} ${p.problem}`).join('; ');
}

// The env object is the same for every request of an isolate, so it is parsed once and found
// by identity afterwards: the hot path pays one WeakMap lookup. (A test that passes a new env
// per request gets a fresh parse, which is what it wants.)
const checked = new WeakMap<object, SettingsCheck>();

/**
 * The Worker's settings, checked once per isolate: what every call site reads instead of
 * `c.env.SOME_VAR`. A bad setting is logged once (naming the var) when first seen.
 *
 * @example
 *   const check = checkSettings(c.env);
 *   if (!check.ok) return misconfigured(check.problems);
 */
export function checkSettings(env: object): SettingsCheck {
  let check = checked.get(env);
  if (!check) {
    check = parseSettings(env);
    checked.set(env, check);
    if (!check.ok)
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'invalid settings: every request but /edge/health answers 503',
          problems: check.problems,
        }),
      );
  }
  return check;
}

/**
 * The parsed settings, for code behind the settings gate (edge/middleware/settings-gate), where
 * they are known to be valid; elsewhere a bad var throws a ConfigError naming it.
 *
 * @example
 *   const { RATE_LIMIT_FAIL_MODE } = settingsOf(c.env);
 */
export function settingsOf(env: object): Settings {
  const check = checkSettings(env);
  if (!check.ok) throw new ConfigError(describeProblems(check.problems));
  return check.settings;
}
